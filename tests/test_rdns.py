"""Reverse DNS (pipelines.rdns) against a small DNS server the test runs on 127.0.0.1 (a fake
of the site's resolver, which is outside our control): names found, misses, one query per
address per run, per-query timeouts and the run's time budget, and end to end: the name in
RAW only, its registered domain in DETAIL."""
from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections import Counter

import dns.message
import dns.rcode
import dns.rrset
import dns.reversename
import duckdb
import pytest

from pipelines import raw, warehouse
from pipelines.config import Config
from pipelines.ingest import ingest_paths
from pipelines.rdns import ReverseDNS, split_server

NAMES = {
    "192.0.2.10": "host-10.dsl.example.net",
    "198.51.100.20": "mail.example.org",
    "2001:db8::30": "v6-client.example.com",
}
SILENT = {f"203.0.113.{i}" for i in range(1, 41)}  # the server never answers these


class FakeDNS:
    """A UDP DNS server answering PTR queries from NAMES, NXDOMAIN otherwise, and nothing
    at all for SILENT addresses (a resolver that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries: Counter[str] = Counter()
        self.stop = threading.Event()
        self.by_name = {dns.reversename.from_address(a): n for a, n in NAMES.items()}
        self.silent = {dns.reversename.from_address(a) for a in SILENT}
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001 - a fake server ignores garbage
                continue
            qname = query.question[0].name
            self.queries[dns.reversename.to_address(qname)] += 1
            if qname in self.silent:
                continue
            response = dns.message.make_response(query)
            if qname in self.by_name:
                response.answer.append(dns.rrset.from_text(qname, 300, "IN", "PTR",
                                                           self.by_name[qname] + "."))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def fake_dns():
    server = FakeDNS()
    yield server
    server.close()


def test_split_server():
    assert split_server("192.0.2.53") == ("192.0.2.53", 53)
    assert split_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert split_server("[2001:db8::53]:5353") == ("2001:db8::53", 5353)
    assert split_server("2001:db8::53") == ("2001:db8::53", 53)


def test_names_and_misses(fake_dns):
    rdns = ReverseDNS([fake_dns.server], timeout=1.0, budget_seconds=30)
    got = rdns.lookup_many(["192.0.2.10", "198.51.100.20", "2001:db8::30", "192.0.2.99"])
    assert got == {"192.0.2.10": "host-10.dsl.example.net", "198.51.100.20": "mail.example.org",
                   "2001:db8::30": "v6-client.example.com", "192.0.2.99": None}
    assert rdns.stats == {"resolved": 3, "no_name": 1, "not_looked_up": 0}


def test_each_address_is_asked_once_per_run(fake_dns):
    rdns = ReverseDNS([fake_dns.server], timeout=1.0, budget_seconds=30)
    rdns.lookup_many(["192.0.2.10", "192.0.2.99"])
    rdns.lookup_many(["192.0.2.10", "192.0.2.99", "198.51.100.20"])
    assert fake_dns.queries == Counter({"192.0.2.10": 1, "192.0.2.99": 1, "198.51.100.20": 1})


def test_a_silent_resolver_costs_at_most_the_budget(fake_dns):
    # 40 queries that never get an answer, 0.2 s each on 8 threads, need 1 s: with a budget
    # of 0.5 s some are never sent, and the answered ones still count
    rdns = ReverseDNS([fake_dns.server], timeout=0.2, budget_seconds=0.5)
    got = rdns.lookup_many(sorted(SILENT) + ["192.0.2.10"])
    assert all(got[a] is None for a in SILENT)
    assert rdns.stats["not_looked_up"] > 0
    assert sum(fake_dns.queries[a] for a in SILENT) < len(SILENT)
    # once the budget is spent, nothing more is asked
    before = sum(fake_dns.queries.values())
    assert rdns.lookup_many(["198.51.100.20"]) == {"198.51.100.20": None}
    time.sleep(0.05)
    assert sum(fake_dns.queries.values()) == before


def test_no_server_at_all_is_no_name():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    rdns = ReverseDNS([f"127.0.0.1:{port}"], timeout=0.2, budget_seconds=5)
    assert rdns.lookup_many(["192.0.2.10"]) == {"192.0.2.10": None}


def test_reverse_dns_end_to_end(fake_dns, tmp_path):
    cfg = Config(data_dir=tmp_path / "data", reverse_dns=True, nameservers=(fake_dns.server,))
    line = '{} - - [14/Nov/2026:10:00:0{} +0000] "GET /{} HTTP/1.1" 200 1 "-" "curl/8.5.0"\n'
    log = tmp_path / "access.log"
    log.write_text(line.format("192.0.2.10", 1, "a") + line.format("192.0.2.10", 2, "b")
                   + line.format("2001:db8::30", 3, "c") + line.format("192.0.2.99", 4, "d")
                   + line.format("client.example.com", 5, "e"))
    (r,) = ingest_paths(cfg, [str(log)], as_of=dt.date(2026, 11, 15))
    assert r.lines_parsed == 5
    assert fake_dns.queries == Counter({"192.0.2.10": 1, "2001:db8::30": 1, "192.0.2.99": 1})
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        detail = con.execute("SELECT path, client_net, client_domain FROM requests "
                             "ORDER BY line_no").fetchall()
        text = " ".join(str(v) for row in con.execute("SELECT * FROM requests").fetchall()
                        for v in row)
    finally:
        con.close()
    assert detail == [("/a", "192.0.2.0/24", "example.net"), ("/b", "192.0.2.0/24", "example.net"),
                      ("/c", "2001:db8::/48", "example.com"), ("/d", "192.0.2.0/24", None),
                      ("/e", None, "example.com")]
    assert "host-10" not in text and "v6-client" not in text  # names stay in RAW
    files = sorted(raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
    rows = duckdb.sql(f"SELECT client_hostname FROM read_parquet({[str(f) for f in files]}) "
                      "ORDER BY line_no").fetchall()
    assert [h for (h,) in rows] == ["host-10.dsl.example.net", "host-10.dsl.example.net",
                                    "v6-client.example.com", None, "client.example.com"]


def test_reverse_dns_is_off_by_default(fake_dns, tmp_path):
    cfg = Config(data_dir=tmp_path / "data", nameservers=(fake_dns.server,))
    log = tmp_path / "access.log"
    log.write_text('192.0.2.10 - - [14/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n')
    ingest_paths(cfg, [str(log)], as_of=dt.date(2026, 11, 15))
    assert not fake_dns.queries

"""Forwarded-for (pipelines.forwarded): the client behind trusted proxies, chain syntaxes,
spoofed chains, and end to end: the chain stays in RAW, DETAIL keeps only the chosen
client's network."""
from __future__ import annotations

import datetime as dt
import ipaddress

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import raw, warehouse
from pipelines.config import Config
from pipelines.forwarded import choose, networks, parse_chain
from pipelines.ingest import ingest_paths

TRUSTED = networks(("10.0.0.0/8", "2001:db8:ffff::/48"))
AS_OF = dt.date(2026, 11, 15)


@pytest.mark.parametrize("text, hops", [
    (None, []),
    ("", []),
    ("-", []),
    ("203.0.113.7", ["203.0.113.7"]),
    ("203.0.113.7, 10.0.0.2,10.0.0.3", ["203.0.113.7", "10.0.0.2", "10.0.0.3"]),
    ('for=192.0.2.60;proto=http;by=203.0.113.43', ["192.0.2.60"]),
    ('for="[2001:db8:cafe::17]:4711", for=10.0.0.2', ["[2001:db8:cafe::17]:4711", "10.0.0.2"]),
    ('For=unknown, for=_hidden', ["unknown", "_hidden"]),
    ("proto=https;by=10.0.0.1", []),
])
def test_parse_chain(text, hops):
    assert parse_chain(text) == hops


@pytest.mark.parametrize("peer, chain, client", [
    # no forwarding: the peer
    ("203.0.113.7", None, "203.0.113.7"),
    # a trusted proxy forwarded it: the right-most untrusted hop
    ("10.0.0.2", "198.51.100.4", "198.51.100.4"),
    ("10.0.0.2", "198.51.100.4, 10.1.1.1", "198.51.100.4"),
    # a spoofed left part is ignored: only hops added by trusted proxies count
    ("10.0.0.2", "1.1.1.1, 198.51.100.4", "198.51.100.4"),
    # the peer is not ours: anything in the chain could be forged
    ("203.0.113.9", "198.51.100.4", "203.0.113.9"),
    # every hop trusted: the left-most
    ("10.0.0.2", "10.0.0.9", "10.0.0.9"),
    # ports, brackets, RFC 7239
    ("[2001:db8:ffff::1]:443", 'for="[2001:db8::77]:4711"', "[2001:db8::77]:4711"),
    ("10.0.0.2:51234", "198.51.100.4:8080", "198.51.100.4:8080"),
    # an unknown hop ends the walk: it is what we know of the client
    ("10.0.0.2", "198.51.100.4, unknown", "unknown"),
    # no peer logged (a format with only the chain)
    (None, "198.51.100.4, 10.0.0.3", "198.51.100.4"),
    # a client field that is itself a list: chain + peer
    ("198.51.100.4,10.0.0.50", None, "198.51.100.4"),
    ("198.51.100.4, 203.0.113.50", None, "203.0.113.50"),
])
def test_choose(peer, chain, client):
    assert choose(peer, chain, TRUSTED) == client


def test_without_trusted_proxies_the_peer_is_the_client():
    assert choose("10.0.0.2", "198.51.100.4", ()) == "10.0.0.2"
    assert choose("198.51.100.4, 10.0.0.2", None, ()) == "10.0.0.2"


_V4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
_TRUSTED_V4 = st.builds(lambda n: str(ipaddress.IPv4Address((10 << 24) + n)),
                        st.integers(0, 2**24 - 1))


@settings(max_examples=200, deadline=None)
@given(chain=st.lists(st.one_of(_V4, _TRUSTED_V4), max_size=6), peer=st.one_of(_V4, _TRUSTED_V4))
def test_the_client_is_never_a_trusted_hop_unless_all_are(chain, peer):
    client = choose(peer, ", ".join(chain), TRUSTED)
    hops = chain + [peer]
    assert client in hops
    index = len(hops) - 1 - hops[::-1].index(client)
    assert all(ipaddress.ip_address(h) in TRUSTED[0] for h in hops[index + 1:])
    if ipaddress.ip_address(client) in TRUSTED[0]:
        assert all(ipaddress.ip_address(h) in TRUSTED[0] for h in hops)


# --------------------------------------------------------------------------- end to end

NGINX_MAIN = ('{peer} - - [14/Nov/2026:10:00:0{n} +0000] "GET /p{n} HTTP/1.1" 200 10 "-" '
              '"curl/8.5.0" "{chain}"\n')


def _raw(cfg: Config) -> list[dict]:
    files = sorted(raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
    cur = duckdb.sql(f"SELECT * FROM read_parquet({[str(f) for f in files]}) ORDER BY line_no")
    return [dict(zip(cur.columns, row)) for row in cur.fetchall()]


def test_trusted_proxies_end_to_end(tmp_path):
    cfg = Config(data_dir=tmp_path / "data", trusted_proxies=("10.0.0.0/8",))
    log = tmp_path / "access.log"
    log.write_text(
        NGINX_MAIN.format(peer="10.0.0.2", chain="198.51.100.4, 10.9.9.9", n=1)
        + NGINX_MAIN.format(peer="203.0.113.9", chain="198.51.100.4", n=2)  # forged
        + NGINX_MAIN.format(peer="10.0.0.2", chain="-", n=3)
        + NGINX_MAIN.format(peer="10.0.0.2", chain="2001:db8::7", n=4))
    (r,) = ingest_paths(cfg, [str(log)], as_of=AS_OF)
    assert r.format == "nginx_main" and r.lines_parsed == 4 and r.lines_bad_client == 0
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        detail = con.execute("SELECT path, client_net FROM requests ORDER BY line_no").fetchall()
        columns = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'requests'").fetchall()}
    finally:
        con.close()
    assert detail == [("/p1", "198.51.100.0/24"), ("/p2", "203.0.113.0/24"),
                      ("/p3", "10.0.0.0/24"), ("/p4", "2001:db8::/48")]
    assert "forwarded_for" not in columns  # the chain never leaves RAW
    rows = _raw(cfg)
    assert [(x["client"], x["forwarded_for"], x["client_address"]) for x in rows] == [
        ("10.0.0.2", "198.51.100.4, 10.9.9.9", "198.51.100.4"),
        ("203.0.113.9", "198.51.100.4", "203.0.113.9"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "2001:db8::7", "2001:db8::7")]


def test_apache_peer_directive_with_trusted_proxies(tmp_path):
    # mod_remoteip: %{c}a is the proxy, %a the client it was told about
    fmt = 'apache:%{c}a %a %l %u %t "%r" %>s %b'
    line = '{peer} {client} - - [14/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1\n'
    log = tmp_path / "a.log"
    log.write_text(line.format(peer="10.0.0.2", client="198.51.100.4")
                   + line.format(peer="203.0.113.9", client="198.51.100.5"))
    for trusted, nets in (((), ["10.0.0.0/24", "203.0.113.0/24"]),
                          (("10.0.0.0/8",), ["198.51.100.0/24", "203.0.113.0/24"])):
        cfg = Config(data_dir=tmp_path / f"data{len(trusted)}", trusted_proxies=trusted)
        ingest_paths(cfg, [str(log)], format_name=fmt, as_of=AS_OF)
        con = warehouse.connect(cfg.data_dir, read_only=True)
        try:
            got = [n for (n,) in con.execute("SELECT client_net FROM requests ORDER BY line_no")
                   .fetchall()]
        finally:
            con.close()
        assert got == nets

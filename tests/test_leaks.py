"""pipelines.leaks: finding full addresses and client host names, masked, in any text or
file, and nothing where there is nothing."""
from __future__ import annotations

import gzip
import ipaddress
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import leaks
from pipelines.leaks import Scanner, mask_host

V4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)),
               st.integers(min_value=0xC0000200, max_value=0xC00002FF))  # 192.0.2.0/24
V6 = st.builds(lambda n: str(ipaddress.IPv6Address((0x20010DB8 << 96) | n)),
               st.integers(min_value=0, max_value=2**80 - 1))  # 2001:db8::/32
# no letters, digits or ':' next to a literal: an IPv6 literal touching a word character is
# not an address by anonymize's rules (std::cout), and more digits make another number
FILLER = st.text(alphabet=st.sampled_from(list(" /?=&\"'<>;,()[]{}\n\t")),
                 max_size=8)


def test_finds_addresses_with_host_bits_masked_as_networks():
    s = Scanner(24, 48)
    assert s.scan("GET /x?ip=203.0.113.7 HTTP/1.1") == {("address", "203.0.113.0/24")}
    assert s.scan("from [2001:db8:1:2::5]:443") == {("address", "2001:db8:1::/48")}
    assert s.scan("q=%32%30%33%2E0%2E113%2E9") == {("address", "203.0.113.0/24")}  # decoded
    assert s.scan("mapped ::ffff:198.51.100.4") == {("address", "198.51.100.0/24")}


def test_networks_loopback_versions_and_times_are_not_addresses():
    s = Scanner(24, 48)
    for text in ("client_net 203.0.113.0/24", "2001:db8:5::/48", "http://127.0.0.1:4200/api",
                 "::1 and 0.0.0.0", "Chrome/120.0.6099.109", "12:30:45.123", "1.3.6.1.4.1",
                 "std::cout", "uuid 0b5f3c2e-9d1a-4c6b-8f00-1e2d3c4b5a69", "sha ab" * 20):
        assert s.scan(text) == set(), text


def test_policy_prefixes_decide_what_is_full():
    assert Scanner(16, 32).scan("203.0.0.0") == set()
    assert Scanner(24, 48).scan("203.0.5.0") == set()
    assert Scanner(16, 32).scan("203.0.5.0") == {("address", "203.0.0.0/16")}


def test_host_name_needles_match_whole_labels_only():
    s = Scanner(hostnames={"visitor-4.example.net"})
    assert s.scan("ref http://www.visitor-4.example.net/x") == {("host name", "v***.example.net")}
    assert s.scan("VISITOR-4.EXAMPLE.NET") == {("host name", "v***.example.net")}
    assert s.scan("xvisitor-4.example.net") == set()
    assert s.scan("visitor-4.example.network") == set()
    assert s.scan("example.net only") == set()
    assert mask_host("a.b") == "a***.b" and mask_host("solo") == "s***"


def test_address_needles_match_whole_quads():
    s = Scanner(24, 48, addresses={"203.0.113.7", "2001:db8:1::7"})
    assert ("address", "203.0.113.0/24") in s.needles("id 1.203.0.113.7 in an oid")
    assert s.needles("1203.0.113.70") == set()
    assert s.needles("at 2001:db8:1::7, then") == {("address", "2001:db8:1::/48")}


@settings(max_examples=200, deadline=None)
@given(st.one_of(V4, V6), FILLER, FILLER)
def test_any_full_address_in_any_text_is_found_and_never_shown(address, before, after):
    s = Scanner(24, 48)
    ip = ipaddress.ip_address(address)
    has_host_bits = int(ip) & ((1 << (8 if ip.version == 4 else 80)) - 1)
    found = s.scan(f"{before}{address}{after}")
    if has_host_bits:
        assert found, address
    for _, masked in found:
        assert address not in masked
        assert s.scan(masked) == set()  # the evidence itself is clean


def test_parquet_and_duckdb_files_are_read_by_column(tmp_path):
    s = Scanner(24, 48)
    table = pa.table({"n": [1, 2], "note": ["ok", "seen 198.51.100.23"],
                      "tags": [["a"], ["2001:db8:9::9"]]})
    pq.write_table(table, tmp_path / "x.parquet", compression="zstd")
    reader = duckdb.connect()
    found = leaks.scan_parquet(reader, tmp_path / "x.parquet", s, "exports/x.parquet")
    assert {(f.where, f.masked) for f in found} == {
        ("exports/x.parquet: column note", "198.51.100.0/24"),
        ("exports/x.parquet: column tags", "2001:db8:9::/48")}
    db = duckdb.connect(str(tmp_path / "snap.duckdb"))
    db.execute("create table t (id integer, v varchar, j json)")
    db.execute("insert into t values (1, 'fine', '{\"ip\": \"192.0.2.44\"}')")
    db.close()
    reader.execute(f"attach '{tmp_path / 'snap.duckdb'}' as snap (read_only)")
    found = leaks.scan_duckdb(reader, "snap", s, "snap.duckdb")
    assert [str(f) for f in found] == ["snap.duckdb: t.j: address 192.0.2.0/24"]


def test_text_files_are_decompressed_and_read_across_blocks(tmp_path, monkeypatch):
    s = Scanner(24, 48)
    path = tmp_path / "report.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"x": "y" * 100 + " 203.0.113.99"}).encode()))
    assert [f.masked for f in leaks.scan_file(path, s, "r")] == ["203.0.113.0/24"]
    monkeypatch.setattr(leaks, "BLOCK", 64)  # a literal across a block boundary
    plain = tmp_path / "big.txt"
    plain.write_text("." * 60 + " 203.0.113.99 " + "." * 200)
    assert [f.masked for f in leaks.scan_file(plain, s, "b")] == ["203.0.113.0/24"]

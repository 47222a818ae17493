"""Ingest (pipelines.ingest) end to end on a real DuckDB file and real Parquet: the RAW window,
DETAIL rows, rejects, the ledger, duplicates, time zones, GeoIP on the full address,
anonymised paths, stdin, a crash mid-ingest, and a real-world log."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import raw, warehouse
from pipelines.config import Config
from pipelines.errors import InputError
from pipelines.formats import get_format
from pipelines.ingest import ingest_paths, plan_ingest
from pipelines.sample import expected_counts, generate_bench_log

REPO = Path(__file__).resolve().parent.parent
WEBLOG = Path(sys.executable).parent / "weblog"
AS_OF = dt.date(2026, 11, 15)  # RAW window with raw_days=7: 2026-11-08 .. 2026-11-15


def line(client: str, stamp: str, path: str = "/", status: int = 200, size: str = "10",
         referrer: str = "-", agent: str = "curl/8.5.0") -> str:
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "{referrer}" "{agent}"\n'


def write_log(path: Path, lines: list[str], compress: bool = False) -> Path:
    data = "".join(lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def config(tmp_path: Path, **kwargs) -> Config:
    return Config(data_dir=tmp_path / "data", **kwargs)


def query(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def raw_rows(cfg: Config, where: str = "true") -> list[dict]:
    files = sorted(raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
    if not files:
        return []
    listing = ", ".join(f"'{f}'" for f in files)
    cur = duckdb.sql(f"SELECT * FROM read_parquet([{listing}], hive_partitioning = true) "
                     f"WHERE {where} ORDER BY source_file_id, line_no")
    names = cur.columns
    return [dict(zip(names, row)) for row in cur.fetchall()]


def reject_rows(cfg: Config) -> list[dict]:
    files = sorted(raw.rejects_root(cfg.data_dir).glob("date=*/*.parquet"))
    if not files:
        return []
    listing = ", ".join(f"'{f}'" for f in files)
    cur = duckdb.sql(f"SELECT * FROM read_parquet([{listing}]) ORDER BY source_file_id, line_no")
    return [dict(zip(cur.columns, row)) for row in cur.fetchall()]


# --------------------------------------------------------------------------- the window

WINDOW_LINES = [
    line("192.0.2.1", "05/Nov/2026:10:00:00 +0000", "/old-1"),          # 1 too old
    line("192.0.2.2", "05/Nov/2026:11:00:00 +0000", "/old-2"),          # 2 too old
    line("192.0.2.3", "07/Nov/2026:23:59:59 +0000", "/old-3"),          # 3 too old (last second)
    line("192.0.2.4", "08/Nov/2026:00:00:00 +0000", "/in-1"),           # 4 first inside
    "this is not a log line\n",                                          # 5 reject
    line("198.51.100.5", "14/Nov/2026:08:00:00 +0000", "/in-2"),        # 6
    "\n",                                                                # 7 blank
    line("2001:db8::6", "14/Nov/2026:09:00:00 +0000", "/in-3"),         # 8
    line("203.0.113.7", "15/Nov/2026:18:00:00 +0000", "/in-4"),         # 9 the as-of day
    line("203.0.113.8", "17/Nov/2026:00:00:00 +0000", "/future"),       # 10 reject: future
]


@pytest.fixture
def window_run(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "access.log", WINDOW_LINES)
    (result,) = ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    return cfg, log_file, result


def test_counts_reconcile(window_run):
    cfg, log_file, r = window_run
    assert r.status == "ingested"
    assert (r.lines_read, r.lines_parsed, r.lines_rejected, r.lines_too_old) == (10, 7, 3, 3)
    assert r.reconciles
    assert r.days == ["2026-11-05", "2026-11-07", "2026-11-08", "2026-11-14", "2026-11-15"]
    reasons = dict(r.reject_reasons)
    assert reasons.pop("blank line") == 1
    assert reasons.pop("timestamp in the future") == 1
    ((mismatch, n),) = reasons.items()
    assert n == 1 and mismatch.startswith("does not match format combined: ")


def test_detail_rows_equal_parsed(window_run):
    cfg, _, r = window_run
    (n,) = query(cfg, "SELECT count(*) FROM requests")[0]
    assert n == r.lines_parsed == 7
    paths = [p for (p,) in query(cfg, "SELECT path FROM requests ORDER BY line_no")]
    assert paths == ["/old-1", "/old-2", "/old-3", "/in-1", "/in-2", "/in-3", "/in-4"]
    (key,) = query(cfg, "SELECT count(DISTINCT (source_file_id, line_no)) FROM requests")[0]
    assert key == 7


def test_raw_holds_only_days_inside_the_window(window_run):
    cfg, _, r = window_run
    assert list(raw.raw_days(cfg.data_dir)) == [dt.date(2026, 11, 8), dt.date(2026, 11, 14),
                                                dt.date(2026, 11, 15)]
    rows = raw_rows(cfg)
    assert [x["url"] for x in rows] == ["/in-1", "/in-2", "/in-3", "/in-4"]
    assert len(rows) == r.lines_parsed - r.lines_too_old
    first = rows[0]
    assert first["client"] == first["client_address"] == "192.0.2.4"
    assert first["ts"] == dt.datetime(2026, 11, 8)
    assert first["date"] == first["day"] == dt.date(2026, 11, 8)
    assert first["request"] == "GET /in-1 HTTP/1.1"
    assert first["user_agent"] == "curl/8.5.0"
    assert rows[2]["client_address"] == "2001:db8::6"
    # file names say which ingest and chunk wrote them
    for f in raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"):
        assert f.name.startswith(f"{r.file_id}-")


def test_too_old_lines_are_in_detail_only(window_run):
    cfg, _, r = window_run
    old = query(cfg, "SELECT path FROM requests WHERE day < DATE '2026-11-08' ORDER BY line_no")
    assert [p for (p,) in old] == ["/old-1", "/old-2", "/old-3"]
    assert not raw_rows(cfg, "day < DATE '2026-11-08'")
    (too_old,) = query(cfg, "SELECT lines_too_old FROM ingested_files")[0]
    assert too_old == 3


def test_rejects_kept_in_raw_with_reasons(window_run):
    cfg, _, r = window_run
    assert list(raw.reject_days(cfg.data_dir)) == [AS_OF]  # filed under the ingest's as-of day
    rows = reject_rows(cfg)
    assert [x["line_no"] for x in rows] == [5, 7, 10]
    assert [x["line"] for x in rows] == ["this is not a log line", "",
                                         WINDOW_LINES[9].rstrip("\n")]
    reasons = [x["reason"] for x in rows]
    assert reasons[0].startswith("does not match format combined: ")
    assert reasons[1:] == ["blank line", "timestamp in the future"]
    assert all(x["source_file_id"] == r.file_id for x in rows)
    assert sum(r.reject_reasons.values()) == len(rows) == r.lines_rejected


def test_rejects_of_many_chunks_keep_their_lines_and_a_capped_diagnosis(tmp_path, monkeypatch):
    from pipelines import ingest as ingest_mod
    from pipelines import lines

    monkeypatch.setattr(lines, "CHUNK_BYTES", 16 << 10)  # ~200 lines a chunk after the first
    monkeypatch.setattr(ingest_mod, "DIAGNOSE_PER_CHUNK", 3)
    texts = [line(f"192.0.2.{i % 200}", "09/Nov/2026:10:00:00 +0000", path=f"/p{i}")
             for i in range(1, 2001)]
    junk = {i: f"junk line {i} \u00e9\r\n" for i in range(7, 2001, 9)}  # several per chunk
    for i, text in junk.items():
        texts[i - 1] = text
    cfg = config(tmp_path)
    with open(write_log(tmp_path / "junk.log", texts), "rb") as handle:
        chunks = list(lines.iter_chunks(handle, lines.ReadStats()))
    assert len(chunks) > 5
    (r,) = ingest_paths(cfg, [str(tmp_path / "junk.log")], format_name="combined", as_of=AS_OF)
    rows = reject_rows(cfg)
    assert [x["line_no"] for x in rows] == sorted(junk)
    assert [x["line"] for x in rows] == [junk[i].rstrip("\r\n") for i in sorted(junk)]
    diagnosed = [x["line_no"] for x in rows if x["reason"] != "does not match format combined"]
    assert all(x["reason"].startswith("does not match format combined") for x in rows)
    # the first three of each chunk get the precise reason, the rest the format's name
    expected = [n for c in chunks
                for n in [i for i in sorted(junk)
                          if c.first_line_no <= i < c.first_line_no + c.num_lines][:3]]
    assert diagnosed == expected
    assert r.lines_rejected == len(junk) and sum(r.reject_reasons.values()) == len(junk)


def test_ledger_row(window_run):
    cfg, log_file, r = window_run
    cur_rows = query(cfg, "SELECT * FROM ingested_files")
    assert len(cur_rows) == 1
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        cur = con.execute("SELECT * FROM ingested_files")
        row = dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))
    finally:
        con.close()
    assert row["path"] == str(log_file.absolute())
    assert row["size"] == log_file.stat().st_size
    assert (row["lines_read"], row["lines_parsed"], row["lines_rejected"]) == (10, 7, 3)
    assert row["lines_read"] == row["lines_parsed"] + row["lines_rejected"]
    assert row["first_ts"] == dt.datetime(2026, 11, 5, 10)
    assert row["last_ts"] == dt.datetime(2026, 11, 15, 18)
    assert row["as_of"] == AS_OF
    assert row["format"] == "combined" and row["compression"] is None
    assert len(row["sha256"]) == len(row["content_sha256"]) == 64


def test_ledger_check_constraint_refuses_a_row_that_does_not_reconcile(window_run):
    cfg, _, _ = window_run
    con = warehouse.connect(cfg.data_dir)
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("""INSERT INTO ingested_files VALUES (99, 'x', NULL, 'combined', NULL, 1,
                'a', 'b', 'c', 0, 1, NULL, NULL, 10, 7, 2, 0, 0, NULL, NULL, DATE '2026-11-15',
                now()::TIMESTAMP)""")
    finally:
        con.close()


# --------------------------------------------------------------------------- duplicates

def test_same_file_again_is_already_ingested(window_run, tmp_path):
    cfg, log_file, first = window_run
    (again,) = ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert again.status == "already ingested"
    assert again.duplicate_of == str(log_file.absolute())
    assert again.lines_read == 0
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == first.lines_parsed
    assert query(cfg, "SELECT count(*) FROM ingested_files")[0][0] == 1


def test_same_content_renamed_or_recompressed_is_already_ingested(window_run, tmp_path):
    cfg, log_file, first = window_run
    renamed = tmp_path / "access.log.1"
    shutil.copy(log_file, renamed)
    gz = write_log(tmp_path / "access.log.2.gz", WINDOW_LINES, compress=True)
    results = ingest_paths(cfg, [str(renamed), str(gz)], as_of=AS_OF)
    assert [r.status for r in results] == ["already ingested", "already ingested"]
    assert {r.duplicate_of for r in results} == {str(log_file.absolute())}
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == first.lines_parsed
    assert len(raw_rows(cfg)) == first.lines_parsed - first.lines_too_old
    assert not any(raw.staging_root(cfg.data_dir).iterdir())  # the duplicate's staging is gone


def test_gzip_first_then_plain_is_already_ingested(tmp_path):
    cfg = config(tmp_path)
    gz = write_log(tmp_path / "a.log.gz", WINDOW_LINES, compress=True)
    plain = write_log(tmp_path / "a.log", WINDOW_LINES)
    first, second = ingest_paths(cfg, [str(gz), str(plain)], as_of=AS_OF)
    assert first.status == "ingested"
    assert second.status == "already ingested"
    assert query(cfg, "SELECT compression FROM ingested_files")[0][0] == "gzip"


def test_different_content_is_ingested(window_run, tmp_path):
    cfg, _, first = window_run
    other = write_log(tmp_path / "other.log", WINDOW_LINES[:4])
    (r,) = ingest_paths(cfg, [str(other)], as_of=AS_OF)
    assert r.status == "ingested" and r.lines_read == 4
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == first.lines_parsed + 4


def _ledger_hashes(cfg: Config) -> list[tuple]:
    return query(cfg, "SELECT path, size, sha256, compression FROM ingested_files ORDER BY file_id")


def test_ledger_hash_is_of_the_bytes_on_disk_whether_the_plan_or_the_stage_took_it(tmp_path):
    """A plain file of a size no other file has is hashed while staged, not before: the
    ledger must still hold the SHA-256 and size of its bytes, a partial last line included."""
    cfg = config(tmp_path)
    plain = write_log(tmp_path / "a.log", WINDOW_LINES[:6])
    growing = tmp_path / "b.log"
    growing.write_bytes(b"".join(x.encode() for x in WINDOW_LINES[6:9]) + b"203.0.113.9 - - [15")
    gz = write_log(tmp_path / "c.log.gz", WINDOW_LINES[9:], compress=True)
    planned = plan_ingest(cfg, [(str(f), get_format("combined"), None)
                                for f in (plain, growing, gz)])
    assert [bool(p.sha256) for p in planned] == [False, False, True]  # compressed: planned
    for p in planned:
        raw.discard(cfg.data_dir, p.file_id)
    results = ingest_paths(cfg, [str(plain), str(growing), str(gz)], as_of=AS_OF)
    assert [r.status for r in results] == ["ingested"] * 3
    assert results[1].lines_read == 3  # the partial last line waits
    assert _ledger_hashes(cfg) == [
        (str(f.absolute()), f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest(), kind)
        for f, kind in ((plain, None), (growing, None), (gz, "gzip"))]


def test_files_of_one_size_are_hashed_before_staging(window_run, tmp_path):
    """Two files of one run, or a file and a ledger row, of the same size may hold the same
    bytes: those are hashed by the plan, and the copy is never staged."""
    cfg, log_file, first = window_run
    copy = tmp_path / "copy.log"
    shutil.copy(log_file, copy)
    same_size = tmp_path / "same-size.log"
    same_size.write_bytes(log_file.read_bytes().replace(b"/in-1", b"/in-9"))
    a, b = tmp_path / "x.log", tmp_path / "y.log"
    write_log(a, WINDOW_LINES[3:5])
    shutil.copy(a, b)
    planned = plan_ingest(cfg, [(str(f), get_format("combined"), None)
                                for f in (copy, same_size, a, b)])
    assert [bool(p.sha256) for p in planned] == [True, True, True, True]
    assert [p.status for p in planned] == ["already ingested", None, None, "already ingested"]
    assert planned[3].duplicate_of == str(a.absolute())
    for p in planned:
        if p.file_id is not None:
            raw.discard(cfg.data_dir, p.file_id)


# --------------------------------------------------------------------------- time zones

@pytest.mark.parametrize("timezone, day, hour", [
    ("UTC", dt.date(2026, 11, 10), 23),  # the shortcut: local time is ts itself
    ("Etc/UTC", dt.date(2026, 11, 10), 23),  # the same zone through the ICU conversion
    ("Asia/Tokyo", dt.date(2026, 11, 11), 8),
    ("America/Los_Angeles", dt.date(2026, 11, 10), 15),
])
def test_day_and_hour_are_in_the_site_time_zone(tmp_path, timezone, day, hour):
    cfg = config(tmp_path, timezone=timezone)
    log_file = write_log(tmp_path / "tz.log", [line("192.0.2.9", "10/Nov/2026:23:30:00 +0000")])
    ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert query(cfg, "SELECT ts, day, hour FROM requests") == [
        (dt.datetime(2026, 11, 10, 23, 30), day, hour)]
    assert list(raw.raw_days(cfg.data_dir)) == [day]
    assert [r["day"] for r in raw_rows(cfg)] == [day]


def test_window_edge_follows_the_site_day(tmp_path):
    # 07/Nov 23:30 UTC is 08/Nov 08:30 in Tokyo: inside the window there, too old in UTC
    stamp = "07/Nov/2026:23:30:00 +0000"
    for timezone, too_old in (("UTC", 1), ("Asia/Tokyo", 0)):
        cfg = config(tmp_path / timezone.replace("/", "-"), timezone=timezone)
        log_file = write_log(tmp_path / "edge.log", [line("192.0.2.9", stamp)])
        (r,) = ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
        assert r.lines_too_old == too_old, timezone


# --------------------------------------------------------------------------- GeoIP

GEO_LINES = [
    line("81.2.69.160", "14/Nov/2026:10:00:00 +0000", "/london"),
    line("2001:218::1", "14/Nov/2026:10:00:01 +0000", "/japan"),
    line("89.160.20.112", "14/Nov/2026:10:00:02 +0000", "/sweden"),
    line("::ffff:81.2.69.160", "14/Nov/2026:10:00:03 +0000", "/mapped"),
    line("192.0.2.1", "14/Nov/2026:10:00:04 +0000", "/nowhere"),
    line("host.example.com", "14/Nov/2026:10:00:05 +0000", "/named"),
]


@pytest.fixture
def geo_run(tmp_path, realworld):
    geoip = realworld / "geoip"
    cfg = config(tmp_path, country_db=geoip / "GeoIP2-Country-Test.mmdb",
                 city_db=geoip / "GeoIP2-City-Test.mmdb", asn_db=geoip / "GeoLite2-ASN-Test.mmdb")
    log_file = write_log(tmp_path / "geo.log", GEO_LINES)
    ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    rows = query(cfg, "SELECT path, client_net, ip_version, country, city, asn, as_org "
                      "FROM requests ORDER BY line_no")
    return cfg, {r[0]: r[1:] for r in rows}


def test_geoip_uses_the_full_address(geo_run, realworld):
    from pipelines.geo import GeoLookup

    _, rows = geo_run
    assert rows["/london"] == ("81.2.69.0/24", 4, "GB", "London", None, None)
    # the truncated network would not have found London: enrichment ran before truncation
    with GeoLookup(None, realworld / "geoip" / "GeoIP2-City-Test.mmdb", None) as geo:
        assert geo.lookup("81.2.69.0").city is None
    assert rows["/mapped"] == ("81.2.69.0/24", 4, "GB", "London", None, None)


def test_geoip_country_is_country_not_registered_country(geo_run):
    _, rows = geo_run
    assert rows["/london"][2] == "GB"   # registered_country is US
    assert rows["/sweden"][2] == "SE"   # registered_country is DE


def test_geoip_ipv6_and_asn(geo_run):
    _, rows = geo_run
    assert rows["/japan"] == ("2001:218::/48", 6, "JP", None, None, None)
    assert rows["/sweden"] == ("89.160.20.0/24", 4, "SE", "Linköping", 29518, "Bredband2 AB")


def test_geoip_misses_are_null(geo_run):
    _, rows = geo_run
    assert rows["/nowhere"] == ("192.0.2.0/24", 4, None, None, None, None)
    assert rows["/named"] == (None, None, None, None, None, None)


def test_missing_geoip_file_gives_null_columns_and_one_warning(tmp_path, caplog):
    cfg = config(tmp_path, city_db=tmp_path / "nope" / "GeoLite2-City.mmdb")
    log_file = write_log(tmp_path / "g.log", GEO_LINES * 3)
    with caplog.at_level(logging.WARNING, logger="weblog"):
        (r,) = ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert r.status == "ingested" and r.lines_parsed == 18
    assert query(cfg, "SELECT count(*) FROM requests WHERE country IS NOT NULL "
                      "OR city IS NOT NULL OR asn IS NOT NULL OR as_org IS NOT NULL")[0][0] == 0
    warnings = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "city_db" in warnings[0].getMessage() and "GeoLite2-City.mmdb" in warnings[0].getMessage()


# --------------------------------------------------------------------------- anonymised text

def test_query_strings_dropped_except_query_keep(tmp_path):
    cfg = config(tmp_path, query_keep=("page", "lang"))
    log_file = write_log(tmp_path / "q.log", [
        line("192.0.2.1", "14/Nov/2026:10:00:00 +0000", "/a?page=2&token=s3cret&lang=de"),
        line("192.0.2.1", "14/Nov/2026:10:00:01 +0000", "/b?email=me%40example.com"),
        line("192.0.2.1", "14/Nov/2026:10:00:02 +0000", "/c?page=3#frag"),
        line("192.0.2.1", "14/Nov/2026:10:00:03 +0000", "/d#x?page=1"),
        line("192.0.2.1", "14/Nov/2026:10:00:04 +0000", "/e"),
    ])
    ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    paths = [p for (p,) in query(cfg, "SELECT path FROM requests ORDER BY line_no")]
    assert paths == ["/a?page=2&lang=de", "/b", "/c?page=3", "/d", "/e"]
    # RAW keeps the full URL
    assert raw_rows(cfg)[0]["url"] == "/a?page=2&token=s3cret&lang=de"


def test_no_query_keep_drops_every_query(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "q.log", [
        line("192.0.2.1", "14/Nov/2026:10:00:00 +0000", "/a?page=2")])
    ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert query(cfg, "SELECT path FROM requests") == [("/a",)]


@settings(max_examples=150, deadline=None)
@given(urls=st.lists(st.text(alphabet="/a=&?#%.-", max_size=14) | st.none(), max_size=12),
       keep=st.sampled_from([(), ("page",), ("page", "lang"), ("a", "")]))
def test_path_shortcut_equals_splitting(urls, keep):
    """The DETAIL path skips the splitting for URLs without '?' and '#': same results."""
    import pyarrow as pa

    from pipelines.ingest import _path_expr, _split_path_expr

    con = duckdb.connect()
    con.register("u", pa.table({"i": pa.array(range(len(urls)), pa.int64()),
                                "url": pa.array(urls, pa.string())}))
    fast = con.execute(f"SELECT {_path_expr(keep)} FROM u ORDER BY i").fetchall()
    split = con.execute(f"SELECT {_split_path_expr(keep)} FROM u ORDER BY i").fetchall()
    assert fast == split


def test_address_literals_in_path_and_vhost_are_masked(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "v.log", [
        "[2001:db8::80]:443 192.0.2.1 - - [14/Nov/2026:10:00:00 +0000] "
        '"GET /report/203.0.113.77/detail HTTP/1.1" 200 1 "-" "-"\n',
        "203.0.113.80:80 192.0.2.1 - - [14/Nov/2026:10:00:01 +0000] "
        '"GET /u/2001:db8:1:2::99 HTTP/1.1" 200 1 "-" "-"\n',
    ])
    ingest_paths(cfg, [str(log_file)], format_name="vhost_combined", as_of=AS_OF)
    assert query(cfg, "SELECT vhost, path FROM requests ORDER BY line_no") == [
        ("[2001:db8::]", "/report/203.0.113.0/detail"),
        ("203.0.113.0", "/u/2001:db8:1::"),
    ]
    assert [r["vhost"] for r in raw_rows(cfg)] == ["[2001:db8::80]", "203.0.113.80"]


def test_configured_vhost_applies_and_is_masked(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "h.log", [line("192.0.2.1", "14/Nov/2026:10:00:00 +0000")])
    ingest_paths(cfg, [str(log_file)], vhost="www.example.com", as_of=AS_OF)
    other = write_log(tmp_path / "i.log", [line("192.0.2.2", "14/Nov/2026:10:00:00 +0000")])
    ingest_paths(cfg, [str(other)], vhost="198.51.100.9", as_of=AS_OF)
    assert query(cfg, "SELECT vhost FROM requests ORDER BY source_file_id") == [
        ("www.example.com",), ("198.51.100.0",)]
    assert query(cfg, "SELECT vhost FROM ingested_files ORDER BY file_id") == [
        ("www.example.com",), ("198.51.100.0",)]


def test_junk_method_and_protocol_cannot_carry_an_address(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "j.log", [
        '192.0.2.1 - - [14/Nov/2026:10:00:00 +0000] "X203.0.113.7 / HTTP/203.0.113.8" 400 1 "-" "-"\n'])
    ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert query(cfg, "SELECT method, path, protocol FROM requests") == [
        ("X203.0.113.0", "/", "HTTP/203.0.113.0")]


# --------------------------------------------------------------------------- inputs

def test_every_compression_ingests_alike(tmp_path):
    import bz2
    import lzma

    import zstandard

    data = "".join(WINDOW_LINES).encode()
    packers = {"plain": lambda d: d, "gz": gzip.compress, "bz2": bz2.compress,
               "xz": lzma.compress, "zst": zstandard.ZstdCompressor().compress}
    for name, pack in packers.items():
        cfg = config(tmp_path / name)
        path = tmp_path / f"log.{name}"
        path.write_bytes(pack(data))
        (r,) = ingest_paths(cfg, [str(path)], as_of=AS_OF)
        assert (r.lines_read, r.lines_parsed, r.lines_rejected) == (10, 7, 3), name


def test_globs_and_missing_paths(tmp_path):
    cfg = config(tmp_path)
    write_log(tmp_path / "a.log", WINDOW_LINES[:2])
    write_log(tmp_path / "b.log", WINDOW_LINES[2:4])
    results = ingest_paths(cfg, [str(tmp_path / "*.log")], as_of=AS_OF)
    assert sorted(Path(r.path).name for r in results) == ["a.log", "b.log"]
    with pytest.raises(InputError, match=r"No such file: .*nothing\*\.log\."):
        ingest_paths(cfg, [str(tmp_path / "nothing*.log")], as_of=AS_OF)
    with pytest.raises(InputError, match="is not a file"):
        ingest_paths(cfg, [str(tmp_path)], as_of=AS_OF)


def test_corrupt_gzip_is_one_clear_error_and_keeps_nothing(tmp_path):
    cfg = config(tmp_path)
    good = gzip.compress("".join(WINDOW_LINES).encode())
    bad = tmp_path / "broken.log.gz"
    bad.write_bytes(good[: len(good) // 2])
    [result] = ingest_paths(cfg, [str(bad)], as_of=AS_OF)  # a failed file does not stop a run
    assert result.status == "failed"
    message = result.error
    assert message.startswith("Cannot read ")
    assert "broken.log.gz" in message and "192.0.2" not in message
    assert "\n" not in message
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == 0
    assert query(cfg, "SELECT count(*) FROM ingested_files")[0][0] == 0
    assert raw.raw_days(cfg.data_dir) == {} and raw.reject_days(cfg.data_dir) == {}
    assert not any(raw.staging_root(cfg.data_dir).iterdir())


def test_stdin_ingest(tmp_path):
    data = "".join(WINDOW_LINES).encode()
    cmd = [str(WEBLOG), "--data-dir", str(tmp_path / "data"), "ingest", "-",
           "--as-of", AS_OF.isoformat(), "--json"]
    first = subprocess.run(cmd, input=data, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr
    import json

    (r,) = json.loads(first.stdout)
    assert r["path"] == "<stdin>" and r["status"] == "ingested"
    assert (r["lines_read"], r["lines_parsed"], r["lines_rejected"]) == (10, 7, 3)
    again = subprocess.run(cmd, input=data, capture_output=True, timeout=300)
    assert json.loads(again.stdout)[0]["status"] == "already ingested"
    cfg = config(tmp_path)
    assert query(cfg, "SELECT count(*), min(path) FROM ingested_files")[0] == (1, "<stdin>")
    assert not any(raw.spool_root(cfg.data_dir).iterdir())  # the stdin copy is gone


# --------------------------------------------------------------------------- a crash mid-ingest

KILLABLE = textwrap.dedent("""
    import datetime as dt, sys
    from pathlib import Path
    from pipelines import lines
    from pipelines.config import Config
    from pipelines.formats import get_format
    from pipelines.ingest import ingest_paths
    lines.CHUNK_BYTES = 1 << 20  # many chunks, so the kill lands between two of them
    ingest_paths(Config(data_dir=Path(sys.argv[1])), [sys.argv[2]],
                 as_of=dt.date.fromisoformat(sys.argv[3]))
""")


@pytest.mark.slow
def test_crash_mid_ingest_leaves_nothing_and_a_rerun_completes(tmp_path, caplog):
    big = tmp_path / "big.log"
    generate_bench_log(big, 150_000, start=dt.datetime(2026, 11, 3), days=10)
    cfg = config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(cfg.data_dir), str(big),
                             AS_OF.isoformat()], cwd=REPO)
    staging = raw.staging_root(cfg.data_dir)
    deadline = time.monotonic() + 240
    try:
        # wait until the first chunk's RAW file is staged, then kill without warning
        while not (staging.is_dir() and any(staging.rglob("*.parquet"))):
            assert proc.poll() is None, "the ingest ended before it could be killed"
            assert time.monotonic() < deadline, "no staged RAW file appeared"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # nothing of the file is visible: no ledger row, no DETAIL rows, no RAW or reject files
    assert query(cfg, "SELECT count(*) FROM ingested_files")[0][0] == 0
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == 0
    assert raw.raw_days(cfg.data_dir) == {} and raw.reject_days(cfg.data_dir) == {}
    assert any(staging.rglob("*.parquet"))  # only staging, which the next run discards

    with caplog.at_level(logging.INFO, logger="weblog"):
        (r,) = ingest_paths(cfg, [str(big)], as_of=AS_OF)
    assert any("discarded" in rec.getMessage() for rec in caplog.records)
    expected = expected_counts(big)
    assert r.status == "ingested"
    assert (r.lines_read, r.lines_parsed, r.lines_rejected) == (
        expected["lines"], expected["valid"], expected["malformed"])
    assert query(cfg, "SELECT count(*) FROM requests")[0][0] == r.lines_parsed
    assert query(cfg, "SELECT count(*), sum(lines_read) FROM ingested_files")[0] == (1, 150_000)
    assert len(raw_rows(cfg)) == r.lines_parsed - r.lines_too_old
    assert r.lines_too_old > 0  # the file starts before the window
    assert sum(x["line_no"] > 0 for x in reject_rows(cfg)) == r.lines_rejected
    assert not any(staging.iterdir())


# --------------------------------------------------------------------------- real world

def test_real_world_apache_log(tmp_path, realworld):
    source = realworld / "logs" / "apache_logs.gz"
    cfg = config(tmp_path)
    (r,) = ingest_paths(cfg, [str(source)], as_of=dt.date(2015, 5, 21))
    assert r.status == "ingested"
    assert r.lines_read == 10_000
    assert r.lines_rejected <= 5  # "a handful"
    assert r.reconciles
    rejects = reject_rows(cfg)
    assert len(rejects) == r.lines_rejected
    assert all(x["reason"] for x in rejects)
    # ../shared/realworld/EXPECTED.md: only line 8899 is broken (user agent without closing quote)
    assert [(x["line_no"], x["reason"]) for x in rejects] == [
        (8899, "does not match format combined: field 'user_agent' has no closing quote")]
    per_day = dict(query(cfg, "SELECT day, count(*) FROM requests GROUP BY day ORDER BY day"))
    assert per_day == {dt.date(2015, 5, 17): 1632, dt.date(2015, 5, 18): 2893,
                       dt.date(2015, 5, 19): 2896, dt.date(2015, 5, 20): 2578}
    status = dict(query(cfg, "SELECT status, count(*) FROM requests GROUP BY ALL"))
    assert status == {200: 9125, 206: 45, 301: 164, 304: 445, 403: 2, 404: 213, 416: 2, 500: 3}
    assert query(cfg, "SELECT count(DISTINCT client_net) FROM requests")[0][0] < 1753
    assert query(cfg, "SELECT min(ts), max(ts) FROM requests")[0] == (
        dt.datetime(2015, 5, 17, 10, 5), dt.datetime(2015, 5, 20, 21, 5, 59))


def test_unusable_client_fields_are_counted_and_kept_only_in_raw(tmp_path):
    cfg = config(tmp_path)
    log_file = write_log(tmp_path / "c.log", [
        line("-", "14/Nov/2026:10:00:00 +0000", "/dash"),
        line("bad_host!name", "14/Nov/2026:10:00:01 +0000", "/junk"),
        line("unix:/run/php.sock", "14/Nov/2026:10:00:02 +0000", "/unix"),
        line("192.0.2.7", "14/Nov/2026:10:00:03 +0000", "/ok"),
    ])
    (r,) = ingest_paths(cfg, [str(log_file)], as_of=AS_OF)
    assert (r.lines_parsed, r.lines_bad_client) == (4, 3)
    assert query(cfg, "SELECT lines_bad_client FROM ingested_files")[0][0] == 3
    assert query(cfg, "SELECT path, client_net, ip_version, client_domain FROM requests "
                      "ORDER BY line_no") == [
        ("/dash", None, None, None), ("/junk", None, None, None), ("/unix", None, None, None),
        ("/ok", "192.0.2.0/24", 4, None)]
    assert [(x["client"], x["client_address"]) for x in raw_rows(cfg)] == [
        (None, None), ("bad_host!name", None), ("unix:/run/php.sock", None),
        ("192.0.2.7", "192.0.2.7")]

"""Privacy invariant 1 for ingest: no full client address and no client host name outside
the RAW tier. After ingesting a fixture full of addresses in every place a log can hold
them, every text column of every warehouse table, the warehouse file's bytes, the log
messages and the ingest results are scanned; the same scan of RAW must find them (so the
scan is not vacuous)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re

import duckdb
import pytest
from click.testing import CliRunner

from pipelines import raw, warehouse
from pipelines.anonymize import find_leaks
from pipelines.cli import cli
from pipelines.config import Config
from pipelines.formats import get_format
from pipelines.ingest import ingest_file, ingest_paths
from pipelines.lock import data_dir_lock

AS_OF = dt.date(2026, 11, 15)
FORMAT = ('apache:%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" '
          '"%{X-Forwarded-For}i"')

# every full address and client host name of the fixture, as written in the log
CLIENTS = [
    "192.0.2.17", "198.51.100.201", "203.0.113.99", "2001:db8:1234:5678::abcd",
    "2001:db8::1", "::ffff:198.51.100.77", "[2001:db8:aa::5]:8080", "192.0.2.18:51234",
    "2001:db8::9%eth0", "host-17.client.example.net", "DSL-203-0-113-5.Isp.Example.ORG",
    "2001:DB8:0:0:0:0:0:42",
]
ADDRESSES = [  # the full addresses inside those fields, normalised
    "192.0.2.17", "198.51.100.201", "203.0.113.99", "2001:db8:1234:5678::abcd", "2001:db8::1",
    "198.51.100.77", "2001:db8:aa::5", "192.0.2.18", "2001:db8::9", "2001:db8::42",
]
HOSTNAMES = ["host-17.client.example.net", "dsl-203-0-113-5.isp.example.org"]
OTHER_ADDRESSES = [  # in paths, referrers, vhosts, user agents, remote users, forwarded-for
    "192.0.2.200", "2001:db8:ff::7", "203.0.113.45", "198.51.100.66", "192.0.2.33",
    "2001:db8::33", "192.0.2.250", "2001:db8::250", "203.0.113.66", "203.0.113.88",
    "203.0.113.101", "2001:db8::102", "198.51.100.123", "2001:db8::66",
]
PLACES = [
    # (vhost, path, referrer, user agent, remote user, forwarded-for)
    ("www.example.com", "/", "-", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "-", "-"),
    ("192.0.2.250", "/ip/192.0.2.200", "http://192.0.2.33/admin", "curl/8.5.0", "-", "203.0.113.101"),
    ("[2001:db8::250]", "/v6/2001:db8:ff::7/x", "http://[2001:db8::33]:8080/", "Wget/1.21", "203.0.113.88",
     "203.0.113.101, 2001:db8::102"),
    ("www.example.com", "/q?ip=203.0.113.45&page=1", "https://host-17.client.example.net/", "scanner/203.0.113.66",
     "-", "-"),
    ("www.example.com", "/%20198.51.100.66", "-", "Mozilla/5.0 (compatible; Probe/1.0; +http://203.0.113.66/bot)",
     "-", "-"),
    ("www.example.com", "/x", "http://dsl-203-0-113-5.isp.example.org/", "MyCrawler 198.51.100.123 bot", "-", "-"),
    # ua-parser makes '2001:db8::66-spider' the browser family of this one
    ("www.example.com", "/y", "-", "Mozilla/5.0 (compatible; 2001:db8::66-spider/1.0)", "-", "-"),
]


def fixture_lines() -> list[str]:
    out = []
    for i, client in enumerate(CLIENTS):
        for k, (vhost, path, ref, ua, user, xff) in enumerate(PLACES):
            stamp = f"{10 + (i + k) % 5:02d}/Nov/2026:{(i * 7 + k) % 24:02d}:15:00 +0900"
            out.append(f'{vhost} {client} - {user} [{stamp}] "GET {path} HTTP/1.1" 200 {100 + k} '
                       f'"{ref}" "{ua}" "{xff}"\n')
    return out


def secrets() -> list[str]:
    return sorted({*CLIENTS, *ADDRESSES, *HOSTNAMES, *(c.lower() for c in CLIENTS),
                   *OTHER_ADDRESSES}, key=len, reverse=True)


def leaks_in(text: str) -> list[str]:
    """Address literals with host bits, and any fixture address or client host name."""
    found = list(find_leaks(text))
    low = text.lower()
    found += [s for s in secrets() if s.lower() in low and not _is_network_prefix(s, low)]
    return found


def _is_network_prefix(secret: str, text: str) -> bool:
    # '2001:db8::1' also occurs inside '2001:db8::102' (another secret): an occurrence
    # followed by a hex digit is part of a longer literal, which find_leaks judges itself
    return all(re.match(r"[0-9a-f]", text[m.end():m.end() + 1] or " ") for m in
               re.finditer(re.escape(secret.lower()), text))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """The fixture ingested twice: by ingest_paths, and into an uncompressed warehouse."""
    base = tmp_path_factory.mktemp("privacy")
    # a log named after a client, in a folder named after another: the ledger records
    # the path, and no address may leave RAW that way either
    log_file = base / "from-192.0.2.77" / "access-203.0.113.45.log"
    log_file.parent.mkdir()
    log_file.write_text("".join(fixture_lines()), encoding="utf-8")
    cfg = Config(data_dir=base / "data", query_keep=("page",))
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("weblog")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        results = ingest_paths(cfg, [str(log_file)], format_name=FORMAT, as_of=AS_OF)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    # the same ingest through a connection that stores every column uncompressed, so the
    # bytes of the file can be searched (production code runs unchanged on that connection)
    plain = Config(data_dir=base / "plain", query_keep=("page",))
    with data_dir_lock(plain.data_dir):
        raw.prepare(plain.data_dir)
        con = warehouse.connect(plain.data_dir, temp_dir=raw.temp_root(plain.data_dir))
        con.execute("SET force_compression = 'uncompressed'")
        try:
            ingest_file(con, plain, log_file, fmt=get_format(FORMAT), vhost=None, as_of=AS_OF,
                        geo=None)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return cfg, plain, results, records, log_file


def warehouse_texts(cfg: Config) -> dict[tuple[str, str], list[str]]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        out = {}
        for table, column in warehouse.text_columns(con):
            out[(table, column)] = [v for (v,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL').fetchall()]
        return out
    finally:
        con.close()


def test_fixture_parsed_completely(ingested):
    cfg, _, (result,), _, _ = ingested
    assert result.lines_read == len(CLIENTS) * len(PLACES)
    assert result.lines_rejected == 0
    assert result.lines_parsed == result.lines_read


def test_no_text_column_of_any_table_holds_a_full_address_or_client_host(ingested):
    cfg = ingested[0]
    texts = warehouse_texts(cfg)
    assert ("requests", "path") in texts and ("ingested_files", "path") in texts
    scanned = 0
    for (table, column), values in texts.items():
        for value in values:
            scanned += 1
            assert leaks_in(value) == [], (table, column, value)
    assert scanned > 40


def test_detail_keeps_networks_and_domains(ingested):
    texts = warehouse_texts(ingested[0])
    nets = set(texts[("requests", "client_net")])
    assert {"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:1234::/48",
            "2001:db8::/48", "2001:db8:aa::/48"} <= nets
    assert set(texts[("requests", "client_domain")]) == {"example.net", "example.org"}
    assert "/ip/192.0.2.0" in texts[("requests", "path")]
    assert "/q?page=1" in texts[("requests", "path")]
    assert {"192.0.2.0", "[2001:db8::]", "www.example.com"} == set(texts[("requests", "vhost")])


def test_the_same_scan_finds_the_addresses_in_raw(ingested):
    cfg = ingested[0]
    files = sorted(raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
    assert files
    con = duckdb.connect()
    rel = con.read_parquet([str(f) for f in files])
    found: set[str] = set()
    for column, kind in zip(rel.columns, rel.types):
        if str(kind) != "VARCHAR":
            continue
        for (value,) in con.execute(f'SELECT DISTINCT "{column}" FROM rel').fetchall():
            if value is not None:
                found.update(s.lower() for s in leaks_in(value))
    for secret in [*ADDRESSES, *HOSTNAMES, *OTHER_ADDRESSES]:
        assert secret.lower() in found, secret


def test_warehouse_file_bytes_hold_no_address(ingested):
    plain = ingested[1]
    data = b"".join(p.read_bytes() for p in plain.data_dir.glob("warehouse.duckdb*"))
    text = data.decode("latin-1")
    # not vacuous: the uncompressed file shows its text in clear (the ledger's and the DETAIL
    # list's names; DETAIL's values are in Parquet files, scanned decoded by the tests above)
    for visible in (plain.data_dir.parent.name, "detail/date=2026-11-1", ".parquet"):
        assert visible in text, visible
    for secret in secrets():
        assert secret.encode() not in data and secret.lower().encode() not in data, secret
        assert secret.encode("utf-16-le") not in data, secret
    printable = re.findall(r"[\x20-\x7e]{7,}", text)
    assert [(run, find_leaks(run)) for run in printable if find_leaks(run)] == []


def test_log_messages_and_results_hold_no_address(ingested):
    _, _, results, records, log_file = ingested
    assert records  # ingest does log (one line per file at INFO)
    for record in records:
        assert leaks_in(record.getMessage()) == [], record.getMessage()
    for result in results:
        assert leaks_in(json.dumps(result.to_dict())) == []


def test_cli_output_holds_no_address(ingested, tmp_path):
    cfg, _, _, _, log_file = ingested
    runner = CliRunner()
    out = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "-vv", "ingest", str(log_file),
                              "--format", FORMAT, "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    status = runner.invoke(cli, ["--data-dir", str(tmp_path / "d"), "status", "--json",
                                 "--as-of", AS_OF.isoformat()])
    for output in (out.output, status.output):
        assert leaks_in(output) == []

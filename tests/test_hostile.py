"""Hostile input: the corpus under tests/data/hostile/ (see its README), a 10 MB line and
generated lines. For each line: no crash, counted as parsed or rejected with a reason,
and its payload inert wherever it is shown:

- terminal output (`weblog ingest`, `stats`, `status`, `subject find`, `detect`): no raw
  control, escape or bidi character reaches stdout or stderr;
- the HTML report and the dashboard: markup from the logs is text, never an element or an
  attribute (tests/test_browser.py loads the XSS fixture in Chromium too);
- the CSV export: a cell starting with = + - @ (or a tab, CR, LF) is a number or escaped.

Property tests feed generated lines (valid combined lines with mutated fields, and junk
bytes) to the real parser and to the ingest, and check that every run reconciles:
lines read = parsed + rejected, DETAIL rows = parsed, and that nothing raises.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fault_kit import WEBLOG, env_for
from pipelines.aggregate import STATS_TABLES, data_test_failures
from pipelines.config import Config
from pipelines.formats import get_format
from pipelines.ingest import ingest_paths
from pipelines.lines import PROBE_BYTES
from pipelines.parse import COLUMNS, parse_sql
from pipelines.serve import create_app
from views_fixture import Html

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "data" / "hostile"
AS_OF = dt.date(2026, 11, 15)
DAY = "2026-11-14"
# C0 and C1 controls (newline and tab aside), DEL, bidi embeddings/overrides/isolates
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

FILES = {  # file: (format, lines read, parsed, rejected)
    "payloads-combined.log": ("combined", 95, 95, 0),
    "payloads-vhost_combined.log": ("vhost_combined", 19, 19, 0),
    "bytes.log": ("combined", 10, 8, 2),
    "crlf.log": ("combined", 5, 5, 0),
    "cr-only.log": ("combined", 5, 5, 0),
    "forged.log": ("combined", 23, 17, 6),
}


def weblog(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WEBLOG, "--data-dir", str(data_dir), *args], cwd=REPO,
                          env=env_for(REPO), capture_output=True, timeout=300)


def text_of(run: subprocess.CompletedProcess) -> str:
    return (run.stdout + run.stderr).decode("utf-8", errors="strict")


def assert_inert_in_terminal(run: subprocess.CompletedProcess) -> None:
    text = text_of(run)  # also: valid UTF-8 (no raw bytes from the logs)
    assert not UNSAFE.search(text), sorted({hex(ord(c)) for c in UNSAFE.findall(text)})


def assert_inert_in_html(html: str) -> None:
    """No element, attribute or URL scheme from the logs: only text."""
    doc = Html.parse(html)
    for tag, attrs in doc.tags:
        assert tag not in ("script", "iframe", "object", "embed", "img", "foreignobject"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith(("javascript:", "data:text")), \
                (tag, name, value)
    shown = " ".join(doc.texts)
    assert "<script>alert(1)</script>" in shown  # the payload is there, as text


# --------------------------------------------------------------------------- the corpus

@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The corpus ingested and aggregated through the CLI; every command's output kept."""
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    runs: dict[str, subprocess.CompletedProcess] = {}
    results = {}
    for fmt in sorted({f for f, *_ in FILES.values()}):
        names = [name for name, (f, *_) in FILES.items() if f == fmt]
        run = weblog(data, "ingest", *(str(CORPUS / n) for n in names), "--format", fmt,
                     "--as-of", str(AS_OF), "--json")
        assert run.returncode == 0, text_of(run)
        results.update({Path(r["path"]).name: r for r in json.loads(run.stdout)})
        runs[f"ingest --json {fmt}"] = run
    runs["ingest table"] = weblog(data, "ingest", str(CORPUS / "bytes.log"), "--format",
                                  "combined", "--as-of", str(AS_OF))  # already ingested
    runs["aggregate"] = weblog(data, "aggregate")
    assert runs["aggregate"].returncode == 0, text_of(runs["aggregate"])
    return root, data, results, runs


@pytest.mark.parametrize("name", FILES)
def test_every_line_is_counted_as_parsed_or_rejected(hostile, name):
    _, data, results, _ = hostile
    _, read, parsed, rejected = FILES[name]
    r = results[name]
    assert (r["status"], r["lines_read"], r["lines_parsed"], r["lines_rejected"]) == \
        ("ingested", read, parsed, rejected)
    assert sum(r["reject_reasons"].values()) == rejected
    assert all(reason.strip() for reason in r["reject_reasons"])


def test_rejects_keep_their_reason_and_detail_holds_the_parsed(hostile):
    _, data, results, _ = hostile
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        ledger = dict(con.execute("select regexp_extract(path, '[^/]+$'), lines_parsed "
                                  "from ingested_files").fetchall())
        detail = dict(con.execute("select regexp_extract(f.path, '[^/]+$'), count(*) from "
                                  "requests r join ingested_files f on f.file_id = "
                                  "r.source_file_id group by 1").fetchall())
        forged_sizes = con.execute(
            "select r.bytes from requests r join ingested_files f on f.file_id = "
            "r.source_file_id where f.path like '%forged.log' and r.line_no in (11, 12) "
            "order by r.line_no").fetchall()
    finally:
        con.close()
    assert detail == {k: v for k, v in ledger.items() if v}
    rejects = duckdb.connect().execute(
        f"select reason from read_parquet('{data}/raw/rejects/*/*.parquet')").fetchall()
    assert len(rejects) == sum(r["lines_rejected"] for r in results.values())
    assert all(reason and reason.strip() for (reason,) in rejects)
    # sizes of 10^20 and 2^63-1 are forged: counted as 0, the day's total cannot overflow
    assert forged_sizes == [(0,), (0,)]


def test_forged_fields_are_judged_one_by_one(hostile):
    _, _, results, _ = hostile
    forged = results["forged.log"]
    assert Counter(forged["reject_reasons"]) == Counter({
        "unreadable timestamp": 3,  # month Foo, 30 February, offset +9999 (no clock shows it)
        "timestamp in the future": 1,  # 9999
        "does not match format combined: field 'status' is malformed or not followed by ' '": 1,
        "does not match format combined: field 'bytes' is malformed or not followed by ' \"'": 1,
    }), forged["reject_reasons"]
    assert forged["lines_too_old"] == 2  # 0001 and 1970: DETAIL only, never RAW
    assert forged["lines_bad_client"] >= 4  # 999.1.1.1, [...::::]:500000000, 256..., -


def test_statistics_of_hostile_days_pass_the_data_tests(hostile):
    _, data, _, _ = hostile
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:
        assert data_test_failures(con, 5) == {}
        (days,) = con.execute("select count(*) from stats_days").fetchall()[0]
    finally:
        con.close()
    assert days >= 3


def test_terminal_output_is_inert(hostile):
    _, data, _, runs = hostile
    runs = dict(runs)
    runs["stats"] = weblog(data, "stats", "--day", DAY, "--top", "200")
    runs["stats --json"] = weblog(data, "stats", "--day", DAY, "--top", "200", "--json")
    for vhost in ("<script>alert(1)</script>", "=cmd|'_/C_calc'!A0"):
        runs[f"stats --vhost {vhost}"] = weblog(data, "stats", "--day", DAY, "--vhost", vhost)
    runs["status"] = weblog(data, "status", "--as-of", str(AS_OF))
    # clients whose requests carry a raw ESC, an OSC title, a bidi override, backspaces, NULs
    for client in ("192.0.2.25", "192.0.2.27", "192.0.2.43", "999.1.1.1"):
        runs[f"subject find {client}"] = weblog(data, "subject", "find", client, "--as-of",
                                                str(AS_OF))
    for name in ("bytes.log", "payloads-combined.log", "binary.bin"):
        runs[f"detect {name}"] = weblog(data, "detect", str(CORPUS / name))
    for what, run in runs.items():
        assert run.returncode in (0, 2), (what, text_of(run))  # detect: 2 = no clear format
        assert "Traceback" not in text_of(run), what
        assert_inert_in_terminal(run)
    # the escaped forms are shown instead
    shown = text_of(runs["subject find 192.0.2.25"])
    assert "\\x1b[31mRED\\x1b[0m" in shown
    assert "\\u202e" in text_of(runs["subject find 192.0.2.27"])
    assert "<script>alert(1)</script>" in text_of(runs["stats"])


def test_report_and_dashboard_show_payloads_as_text(hostile):
    root, data, _, _ = hostile
    report = root / "report.html"
    run = weblog(data, "report", "--from", DAY, "--to", DAY, "-o", str(report))
    assert run.returncode == 0, text_of(run)
    assert_inert_in_html(report.read_text(encoding="utf-8"))
    app = TestClient(create_app(Config(data_dir=data)), base_url="http://127.0.0.1")
    page = app.get("/", params={"from": DAY, "to": DAY})
    assert page.status_code == 200
    assert_inert_in_html(page.text)
    for vhost in ("<script>alert(1)</script>", "\"><img_src=x_onerror=alert(1)>"):
        filtered = app.get("/", params={"from": DAY, "to": DAY, "vhost": vhost})
        assert filtered.status_code == 200
        assert not any(tag == "img" for tag, _ in Html.parse(filtered.text).tags)
    api = app.get("/api/v1/daily_pages", params={"from": DAY, "to": DAY, "limit": 1000}).json()
    assert any(r["path"] == "/<script>alert(1)</script>" for r in api["rows"])


def test_csv_export_escapes_formula_cells(hostile):
    """`weblog export` for the table with the paths; the library call it makes for the
    rest (the same code)."""
    from pipelines.export import export_table

    root, data, _, _ = hostile
    run = weblog(data, "export", "daily_pages", "-o", str(root / "daily_pages.csv"))
    assert run.returncode == 0, text_of(run)
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        for table in STATS_TABLES:
            if table != "daily_pages":
                export_table(con, table, root / f"{table}.csv", "csv", None, None)
    finally:
        con.close()
    escaped = {}
    for table in STATS_TABLES:
        with open(root / f"{table}.csv", newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                for cell in row:
                    escaped[table] = escaped.get(table, 0) + cell.startswith("'")
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "\n"):
                        float(cell)  # only a number may start so (e.g. a negative change)
    assert escaped["daily_pages"] >= 4  # the formula payloads are there, escaped
    assert escaped["daily_traffic"] >= 2  # as virtual hosts too


# --------------------------------------------------------------------------- big and binary

def test_a_10_mb_line_is_read_and_shown_cut(tmp_path):
    path = "/" + "A" * (10 << 20)
    log = tmp_path / "big.log"
    log.write_text(
        f'192.0.2.80 - - [14/Nov/2026:10:00:00 +0000] "GET {path} HTTP/1.1" 200 5 "-" "x"\n'
        + "J" * (10 << 20) + "\n"
        + '192.0.2.81 - - [14/Nov/2026:10:00:01 +0000] "GET /ok HTTP/1.1" 200 5 "-" "x"\n')
    data = tmp_path / "data"
    run = weblog(data, "ingest", str(log), "--format", "combined", "--as-of", str(AS_OF),
                 "--json")
    assert run.returncode == 0, text_of(run)
    (r,) = json.loads(run.stdout)
    assert (r["lines_read"], r["lines_parsed"], r["lines_rejected"]) == (3, 2, 1)
    assert weblog(data, "aggregate").returncode == 0
    report = tmp_path / "r.html"
    run = weblog(data, "report", "-o", str(report))  # a 10 MB chart label took minutes
    assert run.returncode == 0 and report.stat().st_size < 1 << 20
    stats = weblog(data, "stats", "--top", "5")
    assert stats.returncode == 0 and len(stats.stdout) < 1 << 16
    page = TestClient(create_app(Config(data_dir=data)), base_url="http://127.0.0.1").get("/")
    assert page.status_code == 200 and len(page.text) < 1 << 20
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    assert con.execute("select max(length(path)) from requests").fetchall()[0][0] == len(path)
    con.close()


def test_binary_data_is_rejected_line_by_line_or_refused_whole(tmp_path):
    forced = weblog(tmp_path / "a", "ingest", str(CORPUS / "binary.bin"), "--format",
                    "combined", "--as-of", str(AS_OF), "--json")
    assert forced.returncode == 0, text_of(forced)
    (r,) = json.loads(forced.stdout)
    assert r["lines_parsed"] == 0 and r["lines_read"] == r["lines_rejected"] >= 40
    auto = weblog(tmp_path / "b", "ingest", str(CORPUS / "binary.bin"), "--as-of", str(AS_OF))
    assert auto.returncode == 1
    assert auto.stderr.decode().splitlines()[-1] == (
        "weblog: error: 1 of 1 file(s) failed and were not ingested: binary.bin.")
    for run in (forced, auto):
        assert_inert_in_terminal(run)


# --------------------------------------------------------------------------- fuzzing

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
NASTY = ['"', "\\", " ", "\x00", "\x1b", "\r", "\t", "[", "]", "\u202e", "é", "中", "\x7f",
         "%", "'", ";", "<", ">", "=", "-", ":", "/"]
CLIENTS = st.one_of(
    st.integers(0, 255).map(lambda i: f"192.0.2.{i}"),
    st.integers(0, 0xFFFF).map(lambda i: f"2001:db8::{i:x}"),
    st.integers(0, 99).map(lambda i: f"visitor-{i}.example.net"),
    st.sampled_from(["-", "999.1.1.1", "[2001:db8::1]:443", "unix:", "::::", ""]),
)
FIELD = st.text(alphabet=st.one_of(st.sampled_from(NASTY),
                                   st.characters(codec="utf-8", exclude_characters="\n")),
                max_size=40)


@st.composite
def combined_lines(draw) -> bytes:
    """A combined line with generated fields, sometimes mutated, sometimes pure junk."""
    kind = draw(st.sampled_from(["valid", "fields", "mutated", "junk"]))
    if kind == "junk":
        return draw(st.binary(max_size=200)).replace(b"\n", b" ")
    second = draw(st.integers(0, 86399))
    stamp = f"14/Nov/2026:{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d} +0000"
    status = draw(st.sampled_from(["200", "404", "0", "999", "-1", "20x", ""]))
    size = draw(st.sampled_from(["512", "-", "0", "-5", "99999999999999999999", "1e3"]))
    path, ref, ua, user = "/p", "-", UA, "-"
    if kind != "valid":
        path = "/" + draw(FIELD).replace(" ", "%20")
        ref, ua = draw(FIELD).replace('"', '\\"'), draw(FIELD).replace('"', '\\"')
        user = draw(FIELD).replace(" ", "") or "-"
    line = (f'{draw(CLIENTS)} - {user} [{stamp}] "GET {path} HTTP/1.1" {status} {size} '
            f'"{ref}" "{ua}"').encode("utf-8", "surrogatepass")
    if kind == "mutated":  # cut, duplicate or corrupt a span
        i = draw(st.integers(0, len(line)))
        j = draw(st.integers(i, min(len(line), i + 20)))
        line = draw(st.sampled_from([line[:i] + line[j:], line[:j] + line[i:],
                                     line[:i] + b"\xff\xfe\x00" + line[j:]]))
    return line.replace(b"\n", b" ")


def parse_lines(lines: list[str]) -> list[dict]:
    """The real parser (pipelines.parse.parse_sql) over one chunk, as the ingest runs it."""
    fmt = get_format("combined")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        table = pa.table({"line_no": pa.array(range(1, len(lines) + 1), pa.int64()),
                          "line": pa.array(lines, pa.large_string())})
        bound, _ = fmt.bind(table, None)
        con.register("chunk_lines", table)
        cur = con.execute(parse_sql(bound, "chunk_lines", "UTC") + " ORDER BY line_no")
        names = [d[0] for d in cur.description]
        assert tuple(names) == COLUMNS
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(combined_lines(), min_size=1, max_size=30))
def test_the_parser_judges_every_generated_line(lines):
    texts = [line.decode("utf-8", errors="backslashreplace") for line in lines]
    rows = parse_lines(texts)
    assert [r["line_no"] for r in rows] == list(range(1, len(texts) + 1))
    for r in rows:
        assert r["reject"] is None or r["reject"].strip()
        if r["reject"] is None:
            assert r["ts"] is not None and 0 <= (r["bytes"] or 0) <= 1 << 40


def expected_lines(body: bytes) -> int:
    """Lines by the documented rule (pipelines.lines): newline-terminated pieces (a last
    line without its newline waits for the next run in an uncompressed file); CR separates
    lines when the first block has CRs and no newline."""
    if b"\n" not in body[:PROBE_BYTES] and b"\r" in body[:PROBE_BYTES]:
        body = body.replace(b"\r", b"\n")
    return body.count(b"\n")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(combined_lines(), min_size=1, max_size=40),
       st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_every_generated_ingest_reconciles(lines, newline, final_newline):
    body = newline.join(lines) + (newline if final_newline else b"")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "fuzz.log"
        log.write_bytes(body)
        cfg = Config(data_dir=Path(tmp) / "data")
        (r,) = ingest_paths(cfg, [str(log)], format_name="combined", as_of=AS_OF)
        assert r.status in ("ingested", "no new lines"), r.error
        assert r.reconciles and r.lines_read == expected_lines(body)
        if r.status == "ingested":
            con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"), read_only=True)
            try:
                (detail,) = con.execute("select count(*) from requests").fetchall()[0]
            finally:
                con.close()
            assert detail == r.lines_parsed


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(combined_lines(), min_size=60, max_size=120))
def test_generated_lines_through_weblog_ingest(lines):
    """Generated files through the real command line: they reconcile, DETAIL holds the
    parsed lines, and nothing unsafe is printed."""
    with tempfile.TemporaryDirectory() as tmp:
        log, data = Path(tmp) / "fuzz.log", Path(tmp) / "data"
        log.write_bytes(b"\n".join(lines) + b"\n")
        run = weblog(data, "ingest", str(log), "--format", "combined", "--as-of", str(AS_OF),
                     "--json")
        assert run.returncode == 0, text_of(run)
        (r,) = json.loads(run.stdout)
        assert r["lines_read"] == len(lines) == r["lines_parsed"] + r["lines_rejected"]
        if r["lines_parsed"]:
            con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
            assert con.execute("select count(*) from requests").fetchall()[0][0] == \
                r["lines_parsed"]
            con.close()
        assert_inert_in_terminal(weblog(data, "ingest", str(log), "--format", "combined"))

"""Privacy invariant 1 inside Prefect: nothing personal in its database or storage.

Real flows run on logs full of recognisable personal data (addresses, a client host name,
forwarded-for entries, a remote user, query values, a full referrer, user agents), one
run fails on purpose on a hostile line (a user-agent parser that quotes the line it
chokes on, as third-party code may) and on a truncated .gz file. Then every row of every
table of Prefect's SQLite database and every file under its home, decoded, is searched
for each of those strings: zero hits. The search is shown not to be vacuous: an address
planted in a flow parameter, a log message and a persisted (base64-pickled) result is
found in each of them.
"""
from __future__ import annotations

import datetime as dt
import gzip
import sqlite3
import time
from pathlib import Path

import pytest

from pipelines import agents
from pipelines.prefect_home import find_needles, iter_texts

AS_OF = dt.date(2026, 11, 15)
STAMP = "[14/Nov/2026:10:{:02d}:00 +0900]"
XFF_FORMAT = 'apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i"'

CLIENTS = ["192.0.2.77", "198.51.100.23", "2001:db8:5:6::17", "visitor-4.example.net"]
FORWARDED = ["203.0.113.44", "198.51.100.99"]
PERSONAL = [
    *CLIENTS, *FORWARDED,
    "alice.privacy",                                    # remote user
    "S3CRET-QUERY-VALUE", "private+search+words",       # query values
    "https://search.example.org/?q=private+search+words",
    "PrivacyProbe/1.0 (X11; Linux x86_64)",             # user agent
    "PrivacyProbe-HOSTILE/6.6",                         # the UA the fake parser chokes on
    "HOSTILE-PATH", "HOSTILE-REJECT", "203.0.113.250",  # hostile path, a rejected line
    "203.0.113.61", "TRUNCATED-MARKER",                 # lines of the truncated .gz
]


def _line(i: int, client: str, path: str, ua: str, user: str = "-", xff: str | None = None) -> str:
    ref = "https://search.example.org/?q=private+search+words"
    line = f'{client} - {user} {STAMP.format(i % 60)} "GET {path} HTTP/1.1" 200 512 "{ref}" "{ua}"'
    return line + (f' "{xff}"' if xff is not None else "")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("privacy")
    good, bad = root / "good", root / "bad"
    good.mkdir(), bad.mkdir()
    ua = "PrivacyProbe/1.0 (X11; Linux x86_64)"
    (good / "access.log").write_text("\n".join(
        [_line(i, CLIENTS[i % 4], f"/page/{i}?token=S3CRET-QUERY-VALUE&page=2", ua,
               user="alice.privacy" if i == 3 else "-") for i in range(40)]
        + ["203.0.113.250 HOSTILE-REJECT garbage that is no log line",
           _line(41, "192.0.2.77", "/<script>alert('HOSTILE-PATH')</script>", ua)]) + "\n")
    (good / "xff.log").write_text("\n".join(
        _line(i, "192.0.2.77", "/xff", ua, xff=", ".join(FORWARDED)) for i in range(5)) + "\n")
    (bad / "hostile.log").write_text("\n".join(
        [_line(i, "198.51.100.23", "/ok", ua) for i in range(10)]
        + [_line(11, "198.51.100.23", "/x", "PrivacyProbe-HOSTILE/6.6")]) + "\n")
    data = gzip.compress(("\n".join(_line(i, "203.0.113.61", "/TRUNCATED-MARKER", ua)
                                    for i in range(2000)) + "\n").encode())
    (bad / "truncated.log.gz").write_bytes(data[: len(data) // 2])
    config = root / "weblog.toml"
    config.write_text(
        f'data_dir = "data"\ntimezone = "Asia/Tokyo"\n\n'
        f'[[sources]]\npath = "{good}/access.log"\n\n'
        f"[[sources]]\npath = \"{good}/xff.log\"\nformat = '{XFF_FORMAT}'\n\n"
        f'[[sources]]\npath = "{bad}/*"\n', encoding="utf-8")
    return root


class QuotingParser:
    """Stands in for ua-parser failing on one agent with the agent in its message."""

    def __init__(self, real):
        self.real = real

    def parse(self, ua: str):
        if "HOSTILE" in ua:
            raise ValueError(f"cannot parse user agent {ua!r}")
        return self.real.parse(ua)


def _flushed(database: Path, flow_run_id) -> bool:
    """The server has stored the failed run's events and logs (it writes them in batches)."""
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        events = con.execute("SELECT count(*) FROM events WHERE resource_id = ? AND event = "
                             "'prefect.flow-run.Failed'", [f"prefect.flow-run.{flow_run_id}"]
                             ).fetchall()[0][0]
        logs = con.execute("SELECT count(*) FROM log WHERE flow_run_id = ?",
                           [str(flow_run_id).replace("-", "")]).fetchall()[0][0] or \
            con.execute("SELECT count(*) FROM log WHERE flow_run_id = ?",
                        [str(flow_run_id)]).fetchall()[0][0]
    finally:
        con.close()
    return events > 0 and logs > 0


def _drain_and_wait(harness, flow_run_id) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    EventsWorker.drain_all()
    deadline = time.monotonic() + 60
    while not _flushed(harness.database, flow_run_id):
        assert time.monotonic() < deadline, "Prefect never stored the failed run's events"
        time.sleep(0.5)


def test_nothing_personal_reaches_prefect(prefect_harness, site, monkeypatch):
    from flows.ingest_logs import ingest_logs
    from flows.nightly import nightly

    config = str(site / "weblog.toml")
    good = [str(site / "good" / "access.log")]

    # 1. a plain ingest, then a nightly run that picks up the other good file
    first = ingest_logs(sources=good, as_of=AS_OF, config_file=config, return_state=True)
    assert first.is_completed(), first.message
    state = nightly(sources=good + [str(site / "good" / "xff.log")], as_of=AS_OF,
                    config_file=config, return_state=True)
    assert state.is_completed(), state.message

    # 2. a nightly run over every source: the hostile line and the truncated file fail
    monkeypatch.setattr(agents, "_parser_instance", QuotingParser(agents._parser()))
    failed = nightly(as_of=AS_OF, config_file=config, return_state=True)
    assert failed.is_failed()
    assert "hostile.log" in failed.message and "truncated.log.gz" in failed.message
    files = {Path(f["path"]).name: f for f in failed.result(raise_on_failure=False)["ingest"]}
    assert files["hostile.log"]["error"].startswith("Ingest of ")
    assert "at lines 1-11 (ValueError)" in files["hostile.log"]["error"]
    assert "EOFError" in files["truncated.log.gz"]["error"]
    # ... and a failing flow run of its own (the exception ends in its state and events)
    alone = ingest_logs(sources=[str(site / "bad" / "hostile.log")], as_of=AS_OF,
                        config_file=config, return_state=True)
    assert alone.is_failed()
    _drain_and_wait(prefect_harness, alone.state_details.flow_run_id)

    # 3. the personal data really went through these runs: it is in RAW
    raw = site / "data" / "raw"
    raw_bytes = b"".join(p.read_bytes() for p in raw.rglob("*.parquet"))
    assert raw_bytes and len(list(raw.rglob("*.parquet"))) >= 3

    texts = list(iter_texts(prefect_harness.home, [prefect_harness.database]))
    # the failure was stored where DEPENDENCY-NOTES found exceptions: state, log, events
    columns = {w.split(":", 1)[1].split(" row")[0] for w, t in texts
               if ".db:" in w and "hostile.log failed at lines 1-11" in t}
    assert {"events.payload", "log.message", "task_run_state.message"} <= columns
    assert find_needles(texts, PERSONAL) == []


def test_the_scan_finds_a_planted_address(prefect_harness):
    """Not vacuous: the same scan finds an address in a flow parameter, a log row and a
    persisted result, where storage keeps it base64-pickled (invisible to grep)."""
    from prefect import flow, get_run_logger, task

    planted = "198.51.100.201"

    @task(persist_result=True)
    def keep(address: str) -> dict:
        return {"kept": address}

    @flow
    def leaky(address: str) -> None:
        get_run_logger().info("visitor %s", address)
        keep(address)

    storage = prefect_harness.home / "storage"
    before = set(storage.iterdir()) if storage.is_dir() else set()
    try:
        state = leaky(planted, return_state=True)
        assert state.is_completed()
        _drain_logs()
        texts = list(iter_texts(prefect_harness.home, [prefect_harness.database]))
        where = [w for w, _ in find_needles(texts, [planted])]
        assert any(":flow_run.parameters" in w for w in where)
        assert any(":log.message" in w for w in where)
        stored = [w for w in where if "/storage/" in w]
        assert stored and all("decoded" in w for w in stored)  # plain bytes never show it
    finally:
        _unplant(prefect_harness, planted, storage, before)


def _unplant(harness, planted: str, storage: Path, before: set[Path]) -> None:
    """Take the planted address out of the session's Prefect home and database: later
    tests of this worker share them (test_retention_demo's verify scans a copy of the
    database and found the address there)."""
    for path in set(storage.iterdir()) - before if storage.is_dir() else ():
        path.unlink()
    db = sqlite3.connect(harness.database, timeout=60)
    try:
        tables = [t for (t,) in db.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
        for table in tables:
            for column in [c[1] for c in db.execute(f'pragma table_info("{table}")')]:
                db.execute(f'delete from "{table}" where cast("{column}" as text) like ?',
                           [f"%{planted}%"])
        db.commit()
    finally:
        db.close()


def _drain_logs() -> None:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()


@pytest.mark.slow
def test_demo_through_the_cli_leaves_nothing_personal_in_prefect_home(tmp_path):
    """`weblog demo` as `make demo` runs it: Prefect's home is DATA_DIR/prefect, it holds
    the run and its artifact, and none of the sample's addresses, host names, agents,
    URLs with queries or rejected lines (all read back from RAW)."""
    import os
    import shutil
    import subprocess
    import sys

    import duckdb

    repo = Path(__file__).resolve().parent.parent
    shutil.copy(repo / "weblog.example.toml", tmp_path / "weblog.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([str(Path(sys.executable).parent / "weblog"), "demo", "--days", "4",
                           "--as-of", AS_OF.isoformat()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Run receipt: Prefect artifact 'weblog-nightly'" in done.stdout
    home = tmp_path / "data" / "prefect"
    assert (home / "prefect.db").is_file() and home.stat().st_mode & 0o777 == 0o700
    con = sqlite3.connect(home / "prefect.db")
    try:
        assert con.execute("SELECT count(*) FROM artifact WHERE key = 'weblog-nightly'"
                           ).fetchall()[0][0] == 1
        assert {s for (s,) in con.execute("SELECT state_type FROM flow_run")} == {"COMPLETED"}
    finally:
        con.close()

    raw = (tmp_path / "data" / "raw").as_posix()
    needles = [v for (v,) in duckdb.connect().execute(f"""
        SELECT DISTINCT v FROM (
            SELECT unnest([client, client_hostname, user_agent, url, referrer]) AS v
            FROM read_parquet('{raw}/date=*/*.parquet', hive_partitioning = false)
            UNION ALL SELECT line FROM read_parquet('{raw}/rejects/*/*.parquet',
                                                    hive_partitioning = false))
        WHERE v IS NOT NULL AND length(v) >= 7 AND v NOT IN ('-', '/')""").fetchall()
               if "?" in v or not v.startswith("/")]  # bare paths are not personal
    assert len(needles) > 300
    assert find_needles(iter_texts(home), needles) == []

"""Crash safety: `weblog ingest`, `aggregate`, `purge` and `subject erase` killed with
SIGKILL at reproducible points (tests/fault_kit.py), then run again.

Each command runs in a real subprocess on a private copy of a small site (four days of
demo logs, two of them rotated .gz files, plus a file of broken lines). It is killed at
a seeded delay after it took the data-dir lock (delays spread over the measured length
of an uninterrupted run) or at a file-system event (a staging folder or a manifest
appearing, a RAW file promoted, a WAL created, a snapshot or rewrite file written...).
Then the same work is run again, and the result must equal an uninterrupted run's:

- every input line counted exactly once: the ingest ledger's counts per file equal the
  reference's and add up to the input's lines, DETAIL rows equal the parsed lines, no
  (source_file_id, line_no) twice;
- DETAIL, RAW and rejects hold the same records and the statistics tables the same
  contents as after an uninterrupted run (fault_kit.contents: file ids, computed-at
  times and the ingest watermark aside);
- each removal recorded exactly once, the ledger consistent with the disk (`weblog audit
  verify` passes);
- nothing left in raw/.staging, .tmp, .spool or .purging, no *.tmp or *.rewrite file.

WEBLOG_LONG_FAULTS=1 runs 200 seeded delays per command instead of 10 (opt-in; about
half an hour on two cores).
"""
from __future__ import annotations

import datetime as dt
import gzip
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fault_kit import (DELAY_POINTS, KillPoint, contents, copy_site, exists,
                       leftovers, lines_at_least, query, run_weblog, seeded_points, stats_of)
from pipelines import ledger, raw, warehouse
from pipelines.aggregate import run_aggregate
from pipelines.config import Config, load_config
from pipelines.ingest import ingest_sources
from pipelines.purge import purge_expired
from pipelines.subjects import erase_subject, find_subject
from pipelines.verify import verify_retention
from site_fixture import build_geoip, demo_logs, write_config

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 15)
PURGE_AS_OF = AS_OF + dt.timedelta(days=9)  # RAW cutoff after every RAW and rejects day
RETENTION = "[retention]\nraw_days = 7\ndetail_days = 10\npurge_source_logs = true\n"
BROKEN = ("203.0.113.250 this is no log line\n"
          "198.51.100.250 - - [14/Nov/2026:09:00:00 +0900] \"GET /cut\n"
          "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n")


def configure(root: Path) -> Config:
    """(Re)write the site's config so its paths point into `root` (copies included)."""
    return load_config(write_config(root, root / "logs", root / "geoip", extra=RETENTION))


def copy(source: Path, target: Path) -> Config:
    copy_site(source, target)
    return configure(target)


def input_lines(logs: Path) -> int:
    total = 0
    for p in logs.iterdir():
        data = p.read_bytes()
        total += (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).count(b"\n")
    return total


def ledger_entries(cfg: Config) -> list[ledger.Entry]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return ledger.read_table(con) if ledger.table_exists(con) else []
    finally:
        con.close()


def removed(entries: list[ledger.Entry]) -> dict[str, list]:
    """What the ledger says was removed, by action (duplicates kept, to count them)."""
    out: dict[str, list] = {}
    for e in entries:
        d = e.details
        if e.action in ("purge_raw", "purge_rejects"):
            items = [f"{p['name']}/{f['name']}" for p in d["partitions"] for f in p["files"]]
        elif e.action == "purge_detail":
            items = [f"{day['day']}:{day['rows']}" for day in d["days"]]
        elif e.action == "purge_source":
            items = [Path(f["path"]).name for f in d["files"]]
        elif e.action == "erase_subject":
            items = [(d["raw_records"], d["rejects_lines"], d["detail_rows"], len(d["files"]))]
        else:
            items = [e.action]
        out.setdefault(e.action, []).extend(items)
    return {k: sorted(v, key=str) for k, v in out.items()}


def assert_consistent(cfg: Config, as_of: dt.date) -> None:
    """The ledger matches the disk, nothing is outside its window, no temp file is left."""
    verdict = verify_retention(cfg, as_of=as_of)
    assert verdict.passed, [(c.name, c.evidence) for c in verdict.checks if not c.passed]
    assert leftovers(cfg.data_dir) == []


def killed_copy(source: Path, target: Path, args: list[str], point: KillPoint,
                active: float) -> Config:
    """A copy of the site `source` at `target` after `weblog ARGS` was killed at `point`.

    Timing varies on a shared machine: a point late in the run may find the command
    finished (then it must have succeeded, and the rerun has nothing left to do). An event
    can be missed if the poller is not scheduled while it lasts, and a run can be faster
    than the measured one: an event point or a delay in the first quarter of the run that
    found the command finished is repeated on a fresh copy, up to three times.
    """
    for attempt in range(3):
        if target.exists():
            shutil.rmtree(target)
        cfg = copy(source, target)
        out = run_weblog(["--config", str(cfg.config_file), *args], cfg.data_dir, point)
        assert out.killed or out.returncode == 0, out.stderr
        if out.killed or (point.event is None and point.delay >= active / 4):
            return cfg
    raise AssertionError(f"{point}: the run finished before this point three times")


def point_names(command: str, events: dict) -> list[str]:
    return [p.name for p in seeded_points(command, 1.0, events=events)]


def point(command: str, name: str, active: float, events: dict) -> KillPoint:
    return {p.name: p for p in seeded_points(command, active, events=events)}[name]


def uninterrupted(source: Path, target: Path, args: list[str]) -> tuple[Path, float, dict]:
    """A copy of `source` after an uninterrupted `weblog ARGS`: (folder, seconds it held
    the lock, contents)."""
    cfg = copy(source, target)
    out = run_weblog(["--config", str(cfg.config_file), *args], cfg.data_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    return target, out.active_seconds, contents(cfg)


# --------------------------------------------------------------------------- the site

@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Logs, synthetic GeoIP and a config; no data yet."""
    root = tmp_path_factory.mktemp("fault-inputs")
    build_geoip(root / "geoip")
    demo_logs(root / "logs", days=4, per_day=120)
    (root / "logs" / "access.log-broken").write_text(BROKEN, encoding="latin-1")
    configure(root)
    return root


@pytest.fixture(scope="module")
def ingested(inputs, tmp_path_factory):
    return uninterrupted(inputs, tmp_path_factory.mktemp("fault-ingested") / "s",
                         ["ingest", "--as-of", str(AS_OF)])


@pytest.fixture(scope="module")
def aggregated(ingested, tmp_path_factory):
    return uninterrupted(ingested[0], tmp_path_factory.mktemp("fault-aggregated") / "s",
                         ["aggregate"])


# --------------------------------------------------------------------------- ingest

INGEST_EVENTS = {
    "staging-created": exists("raw/.staging/*"),
    "chunk-staged": exists("raw/.staging/*/detail/date=*/*.parquet"),
    "manifest-written": exists("raw/.staging/*/manifest.json"),
    "detail-placed": exists("detail/date=*/*.parquet"),  # moved in; listed by the commit
    "raw-promoted": exists("raw/date=*/*.parquet"),
    "rejects-promoted": exists("raw/rejects/date=*/*.parquet"),
}


@pytest.mark.parametrize("name", point_names("ingest", INGEST_EVENTS))
def test_killed_ingest_is_completed_by_a_rerun(name, inputs, ingested, aggregated, tmp_path):
    _, active, _ = ingested
    cfg = killed_copy(inputs, tmp_path / "s", ["ingest", "--as-of", str(AS_OF)],
                      point("ingest", name, active, INGEST_EVENTS), active)

    ingest_sources(cfg, as_of=AS_OF)  # the rerun
    run_aggregate(cfg)

    got = contents(cfg)
    assert sum(n for _, n, *_ in got["ledger"]) == input_lines(inputs / "logs")
    assert len(got["requests"]) == sum(parsed for _, _, parsed, *_ in got["ledger"])
    assert got["duplicate_detail_keys"] == []
    assert got == aggregated[2]
    assert_consistent(cfg, AS_OF)


KILL_BEFORE_PROMOTE = """
import datetime as dt, os, signal, sys
from pipelines import raw
from pipelines.config import load_config
from pipelines.ingest import ingest_sources
def promote(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
raw.promote = promote
ingest_sources(load_config(sys.argv[1]), as_of=dt.date.fromisoformat(sys.argv[2]))
"""


def test_a_killed_ingest_is_finished_by_the_next_aggregate(inputs, aggregated, tmp_path):
    """Killed after its first file's commit but before that file's RAW files were
    promoted: `weblog aggregate` (not only the next ingest) finishes the promotion first,
    so the day's visitors are exact and stay so."""
    cfg = copy(inputs, tmp_path / "s")
    child = subprocess.run([sys.executable, "-c", KILL_BEFORE_PROMOTE, str(cfg.config_file),
                            str(AS_OF)], capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert query(cfg, "select count(*) from ingested_files")[0][0] == 1
    assert raw.raw_days(cfg.data_dir) == {}  # committed, RAW still in staging

    run_aggregate(cfg)
    days = query(cfg, "select day, visitors_exact from stats_days order by day")
    assert days and all(exact for _, exact in days), days  # every day is inside RAW's window
    ingest_sources(cfg, as_of=AS_OF)
    run_aggregate(cfg)
    assert contents(cfg) == aggregated[2]
    assert_consistent(cfg, AS_OF)


# --------------------------------------------------------------------------- aggregate

AGGREGATE_EVENTS = {
    "wal-created": exists("warehouse.duckdb.wal"),
    "published-folder": exists("published"),
    "snapshot-temp-file": exists("published/.stats-*.tmp"),
    "snapshot-temp-wal": exists("published/.stats-*.tmp.wal"),
    "snapshot-renamed": exists("published/stats.duckdb"),
}


@pytest.mark.parametrize("name", point_names("aggregate", AGGREGATE_EVENTS))
def test_killed_aggregate_is_completed_by_a_rerun(name, ingested, aggregated, tmp_path):
    _, active, want = aggregated
    cfg = killed_copy(ingested[0], tmp_path / "s", ["aggregate"],
                      point("aggregate", name, active, AGGREGATE_EVENTS), active)

    run_aggregate(cfg)  # the rerun

    assert contents(cfg) == want
    snapshot = Path(cfg.data_dir) / "published" / "stats.duckdb"
    assert contents(cfg, snapshot) == stats_of(want)  # the dashboard's snapshot too
    assert_consistent(cfg, AS_OF)


# --------------------------------------------------------------------------- purge

PURGE_EVENTS = {
    "batch-created": exists("raw/.purging/*"),
    "batch-manifest": exists("raw/.purging/*/manifest.json"),
    "first-entry-mirrored": lines_at_least("audit/ledger.jsonl", 1),
    "third-entry-mirrored": lines_at_least("audit/ledger.jsonl", 3),
    "rewrite-started": exists("warehouse.duckdb.rewrite"),
}


@pytest.fixture(scope="module")
def purged(aggregated, tmp_path_factory):
    done = uninterrupted(aggregated[0], tmp_path_factory.mktemp("fault-purged") / "s",
                         ["purge", "--as-of", str(PURGE_AS_OF)])
    entries = removed(ledger_entries(configure(done[0])))
    assert set(entries) == {"purge_raw", "purge_rejects", "purge_detail", "purge_source",
                            "rewrite_warehouse"}
    return (*done, entries)


@pytest.mark.parametrize("name", point_names("purge", PURGE_EVENTS))
def test_killed_purge_is_completed_by_a_rerun(name, aggregated, purged, tmp_path):
    reference, active, want, want_removed = purged
    cfg = killed_copy(aggregated[0], tmp_path / "s", ["purge", "--as-of", str(PURGE_AS_OF)],
                      point("purge", name, active, PURGE_EVENTS), active)

    purge_expired(cfg, as_of=PURGE_AS_OF)  # the rerun

    got = removed(ledger_entries(cfg))
    assert got.pop("rewrite_warehouse")  # at least one rewrite after the last deletion
    assert got == {k: v for k, v in want_removed.items() if k != "rewrite_warehouse"}
    assert raw.raw_days(cfg.data_dir) == {} and raw.reject_days(cfg.data_dir) == {}
    assert sorted(p.name for p in (tmp_path / "s" / "logs").iterdir()) == \
        sorted(p.name for p in (reference / "logs").iterdir())
    assert contents(cfg) == want
    assert_consistent(cfg, PURGE_AS_OF)


# --------------------------------------------------------------------------- erase

ERASE_EVENTS = {
    "batch-created": exists("raw/.purging/*"),
    "file-staged": exists("raw/.purging/*/files/*/*.parquet"),
    "batch-manifest": exists("raw/.purging/*/manifest.json"),
    "detail-copy-written": exists("detail/date=*/*.e*.parquet"),  # listed by the commit
    "entry-mirrored": lines_at_least("audit/ledger.jsonl", 1),
    "rewrite-started": exists("warehouse.duckdb.rewrite"),
}


def subject_of(cfg: Config) -> str:
    """The client address with the most RAW records (over several days)."""
    files = ", ".join(f"'{p.as_posix()}'"
                      for p in raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
    return duckdb.connect().execute(
        f"select client_address from read_parquet([{files}], hive_partitioning = false) "
        "where client_address is not null group by 1 "
        "order by count(distinct day) desc, count(*) desc, 1 limit 1").fetchall()[0][0]


@pytest.fixture(scope="module")
def erased(aggregated, tmp_path_factory):
    subject = subject_of(configure(aggregated[0]))
    done = uninterrupted(aggregated[0], tmp_path_factory.mktemp("fault-erased") / "s",
                         ["subject", "erase", subject, "--yes"])
    entries = removed(ledger_entries(configure(done[0])))
    (erasure,) = entries["erase_subject"]
    assert erasure[0] > 1 and erasure[2] > 1  # RAW records and DETAIL rows
    return (*done, entries, subject)


@pytest.mark.parametrize("name", point_names("erase", ERASE_EVENTS))
def test_killed_erasure_is_completed_by_a_rerun(name, aggregated, erased, tmp_path):
    _, active, want, want_removed, subject = erased
    cfg = killed_copy(aggregated[0], tmp_path / "s", ["subject", "erase", subject, "--yes"],
                      point("erase", name, active, ERASE_EVENTS), active)

    erase_subject(cfg, subject)  # the rerun

    assert removed(ledger_entries(cfg)) == want_removed  # erased once, rewritten once
    found = find_subject(cfg, subject, as_of=AS_OF)
    assert found.records == [] and found.rejects_lines == 0
    assert contents(cfg) == want
    assert_consistent(cfg, AS_OF)


def test_every_command_has_at_least_twenty_kill_points():
    for command, events in (("ingest", INGEST_EVENTS), ("aggregate", AGGREGATE_EVENTS),
                            ("purge", PURGE_EVENTS), ("erase", ERASE_EVENTS)):
        names = point_names(command, events)
        assert len(names) == len(set(names)) >= 20, command
    assert DELAY_POINTS >= 10

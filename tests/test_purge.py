"""pipelines.purge: time travel with --as-of over a small demo-like site.

Window edges exactly (as-of minus raw_days is kept, one day earlier goes), statistics
first (a stale day is aggregated before its RAW goes; a day whose aggregation fails is
kept and reported), DETAIL past detail_days and the warehouse rewrite (byte level),
source logs (only when ingested; never-ingested files are kept and reported), dry run
(nothing changes), idempotence, the lock, and the CLI. Crashes: tests/test_purge_crash.py.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
from click.testing import CliRunner

from pipelines import aggregate, compact, detail, ledger, lines, warehouse
from pipelines.cli import cli
from pipelines.config import Config
from pipelines.ingest import ingest_paths
from pipelines.purge import purge_expired
from pipelines.verify import verify_retention
from retention_site import (AS_OF, copy, log_line, query, raw_partition_days,  # noqa: F401
                            reject_partition_days, retention_site, site, tree)

REPO = Path(__file__).resolve().parent.parent
D = dt.date


def _entries(cfg: Config) -> list[ledger.Entry]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return ledger.read_table(con)
    finally:
        con.close()


def _late_file(folder: Path, day: dt.date, n: int = 12, name: str = "late.log") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(log_line(f"192.0.2.{200 + i % 5}", day, i, f"/late/{i}")
                            for i in range(n)))
    return path


def _make_stale(cfg: Config, day: dt.date, folder: Path, name: str = "late.log") -> None:
    """A late log file adds lines to `day` after its statistics were computed."""
    ingest_paths(cfg, [str(_late_file(folder, day, name=name))], as_of=AS_OF,
                 vhost="www.example.com")
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        assert not aggregate.stats_current(con, day)
    finally:
        con.close()


# --------------------------------------------------------------------------- windows

def test_nothing_goes_inside_the_window(site):
    before = tree(site.data_dir)
    result = purge_expired(site, as_of=AS_OF)
    assert result.entries == [] and not result.removed_anything
    assert tree(site.data_dir).keys() - {"audit/ledger.jsonl"} == before.keys()
    assert raw_partition_days(site) == [D(2026, 11, d) for d in range(8, 15)]


def test_window_edges_are_exact(site):
    as_of = AS_OF + dt.timedelta(days=1)  # 2026-11-16: RAW window 11-09 .. 11-16
    hashes = {p.name: lines.file_sha256(p) for p in
              (site.data_dir / "raw" / "date=2026-11-08").glob("*.parquet")}
    rows_before = query(site, "select count(*) from requests where day < '2026-11-06'")[0][0]

    result = purge_expired(site, as_of=as_of)

    assert result.raw_cutoff == "2026-11-09" and result.detail_cutoff == "2026-11-06"
    assert raw_partition_days(site) == [D(2026, 11, d) for d in range(9, 15)]  # as_of-7 kept
    assert [p["name"] for p in result.raw] == ["date=2026-11-08"]  # as_of-8 went
    assert reject_partition_days(site) == [D(2026, 11, 15)]
    assert query(site, "select min(day) from requests") == [(D(2026, 11, 6),)]
    assert result.detail == {"rows": rows_before, "days": 1, "first_day": "2026-11-05",
                             "last_day": "2026-11-05"}
    entries = _entries(site)
    assert [e.action for e in entries] == ["purge_raw", "purge_detail", "rewrite_warehouse"]
    [part] = entries[0].details["partitions"]
    assert part["name"] == "date=2026-11-08" and part["day"] == "2026-11-08"
    assert {f["name"]: f["sha256"] for f in part["files"]} == hashes
    assert entries[0].cutoff == "2026-11-09" and entries[1].cutoff == "2026-11-06"
    assert entries[1].details["rows"] == rows_before
    assert entries[2].details["after_sequence"] == 2
    assert [e["hash"] for e in result.entries] == [e.hash for e in entries]
    assert verify_retention(site, as_of=as_of).passed

    again = purge_expired(site, as_of=as_of)  # idempotent
    assert again.entries == [] and len(_entries(site)) == 3


def test_rejects_go_with_their_ingest_day(site):
    result = purge_expired(site, as_of=D(2026, 11, 23))  # cutoff 11-16: rejects of 11-15 go
    assert reject_partition_days(site) == []
    assert result.rejects == [{"name": "rejects/date=2026-11-15", "files": 1, "rows": 2}]
    assert [e.action for e in _entries(site)][:2] == ["purge_raw", "purge_rejects"]


# --------------------------------------------------------------------------- statistics first

def test_a_stale_day_is_aggregated_before_its_raw_goes(site, tmp_path):
    day = D(2026, 11, 10)
    _make_stale(site, day, tmp_path / "late")
    detail_rows = query(site, "select count(*) from requests where day = ?", [day])[0][0]

    result = purge_expired(site, as_of=D(2026, 11, 20))  # RAW cutoff 11-13

    assert "2026-11-10" in result.aggregated and result.kept == []
    assert D(2026, 11, 10) not in raw_partition_days(site)
    # computed from RAW while it was there: exact visitors, the late lines included
    assert query(site, "select detail_rows, visitors_exact, visitor_source from stats_days "
                       "where day = ?", [day]) == [(detail_rows, True, "raw")]


def test_a_day_whose_statistics_fail_is_kept_and_reported(site, tmp_path):
    day = D(2026, 11, 9)
    _make_stale(site, day, tmp_path / "late")
    bad = site.data_dir / "raw" / "date=2026-11-09" / "99-0_0.parquet"
    bad.write_bytes(b"PAR1 not really parquet PAR1")  # the day's RAW cannot be read
    bad.chmod(0o600)

    result = purge_expired(site, as_of=D(2026, 11, 20))  # RAW cutoff 11-13, DETAIL 11-10

    [kept] = result.kept
    assert kept["what"] == "day" and kept["name"] == "2026-11-09"
    assert kept["reason"].startswith("statistics could not be computed: RAW file "
                                     "raw/date=2026-11-09/99-0_0.parquet cannot be read (")
    assert kept["reason"].endswith("); its statistics were kept as they were")
    assert raw_partition_days(site)[0] == day  # kept, the others before the cutoff went
    assert D(2026, 11, 10) not in raw_partition_days(site)
    assert query(site, "select count(*) > 0 from requests where day = ?", [day]) == [(True,)]
    assert query(site, "select count(*) from requests where day = '2026-11-08'") == [(0,)]
    verdict = verify_retention(site, as_of=D(2026, 11, 20))
    assert not verdict.passed
    retention = next(c for c in verdict.checks if c.name == "retention")
    assert any("date=2026-11-09" in e and "before the cutoff" in e for e in retention.evidence)

    out = CliRunner().invoke(cli, ["--config", str(site.config_file), "purge",
                                   "--as-of", "2026-11-20"])
    assert out.exit_code == 1, out.output
    assert "Kept day 2026-11-09: statistics could not be computed" in out.output


# --------------------------------------------------------------------------- DETAIL and bytes

def test_purged_detail_values_leave_the_disk(site):
    """Byte level. DETAIL files of a purged day are deleted, a kept day's stay. DETAIL rows
    that a warehouse of an earlier version holds in its table `detail_rows` (here stored
    uncompressed, so the file's bytes show them) are in the warehouse file before the purge
    and gone after its rewrite; a kept day's value is still there."""
    compact.rewrite(site.data_dir, force_compression="uncompressed")
    con = duckdb.connect(str(warehouse.warehouse_path(site.data_dir)))
    con.execute("set force_compression = 'uncompressed'")
    for day, marker in (("2026-11-05", "/PURGED-MARKER-4d1e"), ("2026-11-12", "/KEPT-MARKER-9b7c")):
        con.execute("insert into detail_rows by name select ts, day, hour, vhost, ? as path, "
                    "bytes, is_bot, source_file_id, line_no + 1000000 as line_no from requests "
                    "where day = ? limit 1", [marker, day])
    con.execute("checkpoint")
    con.close()
    data = warehouse.warehouse_path(site.data_dir).read_bytes()
    assert b"PURGED-MARKER-4d1e" in data and b"KEPT-MARKER-9b7c" in data
    files = {f.parent.name: f for f in detail.on_disk(site.data_dir)}
    assert {"date=2026-11-05", "date=2026-11-12"} <= set(files)

    result = purge_expired(site, as_of=D(2026, 11, 16), force_compression="uncompressed")

    assert result.detail["rows"] > 0 and result.rewrite["bytes_after"] > 0
    data = warehouse.warehouse_path(site.data_dir).read_bytes()
    assert b"PURGED-MARKER-4d1e" not in data
    assert b"KEPT-MARKER-9b7c" in data  # the scan sees values that are there
    assert not files["date=2026-11-05"].exists() and files["date=2026-11-12"].exists()
    left = {f.parent.name for f in detail.on_disk(site.data_dir)}
    assert min(left) == "date=2026-11-06" and "date=2026-11-12" in left


# --------------------------------------------------------------------------- source logs

def test_source_logs_go_only_once_ingested(retention_site, tmp_path):
    cfg = copy(retention_site, tmp_path / "s", extra="purge_source_logs = true\n")
    logs = tmp_path / "s" / "logs"
    plain = logs / "access.log.3"  # the content of an ingested .gz, decompressed: same content
    plain.write_bytes(gzip.decompress((logs / "access.log.3.gz").read_bytes()))
    never = logs / "access.log.20.gz"  # an old file no ingest has seen
    never.write_bytes(gzip.compress(log_line("192.0.2.9", D(2026, 10, 1), 1).encode()))
    with open(logs / "access.log.1", "a") as f:  # grew since it was ingested
        f.write(log_line("192.0.2.9", D(2026, 11, 13), 5))
    before = {p.name: lines.file_sha256(p) for p in logs.iterdir()}

    dry = purge_expired(cfg, as_of=D(2026, 11, 20), dry_run=True)  # RAW cutoff 11-13
    result = purge_expired(cfg, as_of=D(2026, 11, 20))

    gone = [f"access.log.{n}.gz" for n in range(2, 10)] + ["access.log.3"]
    assert sorted(p.name for p in logs.iterdir()) == sorted(
        ["access.log", "access.log.1", "access.log-broken", "access.log.20.gz"])
    assert sorted(Path(s["name"]).name for s in result.sources) == sorted(gone)
    assert dry.sources == result.sources
    assert sorted(Path(p).name for p in result.sources_never_ingested) == [
        "access.log.1", "access.log.20.gz"]
    [entry] = [e for e in _entries(cfg) if e.action == "purge_source"]
    assert {Path(f["path"]).name: f["sha256"] for f in entry.details["files"]} == {
        name: before[name] for name in gone}
    assert entry.cutoff == "2026-11-13" and entry.details["count"] == len(gone)
    out = CliRunner().invoke(cli, ["--config", str(cfg.config_file), "purge", "--dry-run",
                                   "--as-of", "2026-11-20"])
    assert "kept, never ingested in its current form" in out.output
    assert "access.log.20.gz" in out.output


def test_a_source_log_whose_last_line_is_unread_stays(retention_site, tmp_path):
    """A plain log's last line without its newline waits for the next run: neither parsed
    nor rejected yet. The file is not deleted, even when everything before it is old."""
    cfg = copy(retention_site, tmp_path / "s", extra="purge_source_logs = true\n")
    logs = tmp_path / "s" / "logs"
    partial = logs / "access.log.30"
    partial.write_text(log_line("192.0.2.9", D(2026, 11, 1), 1)
                       + log_line("192.0.2.9", D(2026, 11, 1), 2).rstrip("\n"))
    [ingested] = ingest_paths(cfg, [str(partial)], as_of=D(2026, 11, 2))
    assert ingested.lines_read == 1  # the unfinished line waits

    result = purge_expired(cfg, as_of=D(2026, 11, 20))

    assert partial.exists()
    assert "access.log.30" not in [Path(s["name"]).name for s in result.sources]
    assert "access.log.30" in [Path(p).name for p in result.sources_never_ingested]
    # the next run, once the line is finished, reads it: nothing was lost
    with open(partial, "a") as f:
        f.write("\n")
    [rest] = ingest_paths(cfg, [str(partial)], as_of=D(2026, 11, 20))
    assert rest.lines_read == 1 and rest.lines_parsed + rest.lines_rejected == 1


def test_source_logs_stay_unless_enabled(site):
    result = purge_expired(site, as_of=D(2026, 12, 31))
    assert result.sources == [] and not result.sources_enabled
    assert len(list((site.config_file.parent / "logs").iterdir())) == 11


# --------------------------------------------------------------------------- dry run

def test_dry_run_changes_nothing_and_lists_exactly_what_goes(site, tmp_path):
    _make_stale(site, D(2026, 11, 10), tmp_path / "late")
    root = site.config_file.parent
    before = tree(root)
    as_of = D(2026, 11, 20)

    dry = purge_expired(site, as_of=as_of, dry_run=True)
    out = CliRunner().invoke(cli, ["--config", str(site.config_file), "purge", "--dry-run",
                                   "--as-of", as_of.isoformat()])

    assert out.exit_code == 0, out.output
    assert tree(root) == before  # not a byte, not a timestamp
    assert dry.entries == [] and dry.aggregated == ["2026-11-10"]
    real = purge_expired(site, as_of=as_of)
    assert [(p["name"], p["files"], p["rows"]) for p in dry.raw] == [
        (p["name"], p["files"], p["rows"]) for p in real.raw]
    assert [(p["name"], p["rows"]) for p in dry.rejects] == [
        (p["name"], p["rows"]) for p in real.rejects]
    assert dry.detail == real.detail
    purged = {f["name"] for e in _entries(site) if e.action == "purge_raw"
              for p in e.details["partitions"] for f in p["files"]}
    assert purged == {n for p in dry.raw for n in p["file_names"]}
    for p in dry.raw:
        assert f"  {p['name']}  {p['files']} file(s), {p['rows']:,} rows: " \
               f"{', '.join(p['file_names'])}" in out.output
    assert out.output.startswith("Dry run, nothing changed.")


# --------------------------------------------------------------------------- CLI and lock

def test_cli_purge_json_and_text(site):
    out = CliRunner().invoke(cli, ["--config", str(site.config_file), "purge", "--as-of",
                                   "2026-11-16", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["raw"][0]["name"] == "date=2026-11-08"
    assert [e["action"] for e in doc["entries"]] == ["purge_raw", "purge_detail",
                                                     "rewrite_warehouse"]
    out = CliRunner().invoke(cli, ["--config", str(site.config_file), "purge", "--as-of",
                                   "2026-11-17"])
    assert out.exit_code == 0, out.output
    assert "RAW: removed 1 day partition(s)" in out.output
    assert "Ledger entry 4 purge_raw (removed): " in out.output


def test_purge_waits_for_the_lock_then_exits_3(retention_site, tmp_path):
    cfg = copy(retention_site, tmp_path / "s", extra="\n[prefect]\nlock_wait_seconds = 1\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path\n"
         "from pipelines.lock import data_dir_lock\n"
         "with data_dir_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(cfg.data_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = CliRunner().invoke(cli, ["--config", str(cfg.config_file), "purge",
                                       "--as-of", "2026-11-30"])
        assert out.exit_code == 3 and "Another weblog run holds" in out.output
        assert raw_partition_days(cfg)  # nothing was purged
    finally:
        holder.kill()
        holder.wait()


def test_source_paths_are_masked_to_the_policy_prefixes_like_the_ingest_ledger(tmp_path):
    """A folder named after an address is shown at the policy's prefix (here /16): a /24
    network would be more than the policy keeps, and the leak scan would flag it."""
    from pipelines.ingest import shown_path
    from pipelines.purge import _shown

    cfg = Config(data_dir=tmp_path / "data", ipv4_prefix=16, ipv6_prefix=32)
    for name, masked in (("/logs/198.51.100.7/access.log", "/logs/198.51.0.0/access.log"),
                         ("/logs/2001:db8:1:2::9/a.log", "/logs/2001:db8::/a.log")):
        assert _shown(name, cfg) == shown_path(cfg, name) == masked

"""Damaged inputs: a truncated or corrupt .gz source, a truncated Parquet file in RAW and
the two broken MaxMind test databases. Each gives a clear error naming the file (and
never a line's content), and the rest of the run goes on where that is safe:

- ingest: the other files are ingested, the damaged one keeps nothing; a rerun with a
  good copy ingests it;
- a RAW file that cannot be read: `aggregate` computes and publishes the other days and
  keeps that day's statistics as they were, `status` names it, `subject find` lists what
  the other files hold and says the list is incomplete, `subject erase` refuses to
  promise an erasure it cannot make (nothing changes), `audit verify` fails naming it;
- a corrupt GeoIP database: one warning naming the setting and the file, empty columns,
  every line ingested.
"""
from __future__ import annotations

import datetime as dt
import gzip
import subprocess
from pathlib import Path

import duckdb
import pytest

from fault_kit import WEBLOG, env_for, leftovers
from pipelines import raw
from pipelines.aggregate import run_aggregate
from pipelines.config import Config, load_config
from pipelines.ingest import ingest_paths
from pipelines.leaks import Scanner
from site_fixture import demo_logs

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def weblog(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WEBLOG, "--config", str(config), *args], cwd=REPO, env=env_for(REPO),
                          capture_output=True, text=True, timeout=300)


def no_address(text: str) -> None:
    """Terminal output names files and counts, never an address from a log."""
    assert Scanner(24, 48).scan(text) == set(), text


def line(client: str, second: int, path: str = "/") -> str:
    return (f'{client} - - [14/Nov/2026:10:00:{second % 60:02d} +0000] "GET {path} HTTP/1.1" '
            f'200 512 "-" "{UA}"\n')


def config(root: Path, extra: str = "") -> Path:
    path = root / "weblog.toml"
    path.write_text(f'data_dir = "data"\n{extra}', encoding="utf-8")
    return path


# --------------------------------------------------------------------------- source files

def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupted(data: bytes) -> bytes:
    middle = len(data) // 2  # deflate data with garbage inside: a zlib error, not EOF
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle:middle + 64]) + data[middle + 64:]


@pytest.mark.parametrize("damage", [_truncated, _corrupted], ids=["truncated", "corrupted"])
def test_a_damaged_gzip_fails_alone_and_a_rerun_takes_its_good_copy(tmp_path, damage):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(line(f"192.0.2.{i}", i) for i in range(1, 30)))
    (logs / "c.log").write_text("".join(line(f"198.51.100.{i}", i) for i in range(1, 30)))
    good = gzip.compress("".join(line(f"203.0.113.{i % 250 + 1}", i, f"/p/{i}")
                                 for i in range(3000)).encode())
    (logs / "b.log.gz").write_bytes(damage(good))
    cfg = config(tmp_path)

    run = weblog(cfg, "ingest", str(logs / "*"), "--as-of", str(AS_OF))
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "weblog: error: 1 of 3 file(s) failed and were not ingested: b.log.gz; the others were.")
    assert f"{logs / 'b.log.gz'}" in run.stderr  # the per-file error names it in full
    no_address(run.stdout + run.stderr)
    data = load_config(cfg).data_dir
    assert _ledger(data) == [("a.log", 29), ("c.log", 29)]
    assert leftovers(data) == []

    (logs / "b.log.gz").write_bytes(good)  # the operator restores it
    again = weblog(cfg, "ingest", str(logs / "*"), "--as-of", str(AS_OF))
    assert again.returncode == 0, again.stderr
    assert _ledger(data) == [("a.log", 29), ("b.log.gz", 3000), ("c.log", 29)]


def _ledger(data_dir: Path) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select regexp_extract(path, '[^/]+$'), lines_read "
                           "from ingested_files order by 1").fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------------- RAW Parquet

@pytest.fixture
def damaged_site(tmp_path) -> tuple[Config, Path, dt.date]:
    """Three days ingested and aggregated; then one RAW file of the middle day cut in
    half. Returns (config, the damaged file, its day)."""
    demo_logs(tmp_path / "logs", days=3, per_day=80)
    path = config(tmp_path, 'timezone = "Asia/Tokyo"\n')
    cfg = load_config(path)
    ingest_paths(cfg, [str(tmp_path / "logs" / "*")], as_of=AS_OF)
    run_aggregate(cfg)
    days = sorted(raw.raw_days(cfg.data_dir))
    victim = sorted(raw.raw_days(cfg.data_dir)[days[1]].glob("*.parquet"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    return cfg, victim, days[1]


def _stats(cfg: Config, day: dt.date | None = None) -> list[tuple]:
    con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        where = "" if day is None else f"where day = DATE '{day}'"
        return con.execute(f"select * exclude (stats_computed_at) from stats_days {where} "
                           "order by day").fetchall() + con.execute(
            f"select * from daily_traffic {where} order by all").fetchall()
    finally:
        con.close()


def test_aggregate_keeps_the_day_of_a_damaged_raw_file_and_computes_the_others(damaged_site):
    cfg, victim, day = damaged_site
    name = victim.relative_to(cfg.data_dir).as_posix()
    before = _stats(cfg, day)
    first, last = min(raw.raw_days(cfg.data_dir)), max(raw.raw_days(cfg.data_dir))
    run = weblog(cfg.config_file, "aggregate", "--from", str(first), "--to", str(last))
    assert run.returncode == 1
    assert run.stderr == (f"weblog: error: Statistics for 1 day(s) could not be computed: {day}: "
                          f"RAW file {name} cannot be read (InvalidInputException); its "
                          "statistics were kept as they were.\n")
    assert "Statistics computed for 2 day(s)" in run.stdout
    assert _stats(cfg, day) == before
    # the other days were recomputed and published for the dashboard
    snapshot = duckdb.connect(str(cfg.data_dir / "published" / "stats.duckdb"), read_only=True)
    try:
        assert snapshot.execute("select count(distinct day) from daily_traffic"
                                ).fetchall()[0][0] == 3
    finally:
        snapshot.close()


def test_status_find_erase_and_verify_name_a_damaged_raw_file(damaged_site):
    cfg, victim, day = damaged_site
    name = victim.relative_to(cfg.data_dir).as_posix()
    status = weblog(cfg.config_file, "status", "--as-of", str(AS_OF))
    assert status.returncode == 0, status.stderr
    assert name in status.stdout.replace("\n", "")

    # the subject with most records, in the damaged day and in others
    con = duckdb.connect()
    readable = [p for p in raw.raw_root(cfg.data_dir).glob("date=*/*.parquet") if p != victim]
    subject, found_elsewhere = con.execute(
        "select client_address, count(*) from read_parquet(?) where client_address is not null "
        "group by 1 order by 2 desc, 1 limit 1", [[p.as_posix() for p in readable]]
    ).fetchall()[0]
    find = weblog(cfg.config_file, "subject", "find", subject, "--as-of", str(AS_OF), "--json")
    assert find.returncode == 1
    assert find.stderr == (f"weblog: error: 1 RAW file(s) could not be searched: {name}; the "
                           "list above is incomplete.\n")
    import json

    found = json.loads(find.stdout)
    assert found["unreadable"] == [name] and len(found["records"]) == found_elsewhere

    files_before = _tree(cfg.data_dir / "raw")
    erase = weblog(cfg.config_file, "subject", "erase", subject, "--yes")
    assert erase.returncode == 1
    assert erase.stderr == (f"weblog: error: 1 RAW file(s) cannot be read ({name}); nothing was "
                            "erased: restore or remove them, then erase again.\n")
    assert _tree(cfg.data_dir / "raw") == files_before
    assert not (cfg.data_dir / "audit" / "ledger.jsonl").exists()

    verify = weblog(cfg.config_file, "audit", "verify", "--as-of", str(AS_OF))
    assert verify.returncode == 1
    assert f"{name}: RAW file cannot be read" in verify.stdout
    for out in (status, find, erase, verify):
        assert "Traceback" not in out.stderr
        no_address(out.stderr)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_purge_removes_a_damaged_raw_file_with_its_expired_day(damaged_site):
    """Its day's statistics are current: the day goes when due, damaged file and all, and
    the ledger records the file with its hash."""
    cfg, victim, day = damaged_site
    as_of = day + dt.timedelta(days=cfg.raw_days + 1)
    run = weblog(cfg.config_file, "purge", "--as-of", str(as_of), "--json")
    assert run.returncode == 0, run.stderr
    assert not victim.exists() and day not in raw.raw_days(cfg.data_dir)
    verify = weblog(cfg.config_file, "audit", "verify", "--as-of", str(as_of))
    assert verify.returncode == 0, verify.stdout


# --------------------------------------------------------------------------- GeoIP

@pytest.mark.parametrize("broken", ["GeoIP2-City-Test-Broken-Double-Format.mmdb",
                                    "GeoIP2-City-Test-Invalid-Node-Count.mmdb"])
def test_a_corrupt_geoip_database_warns_once_and_every_line_is_ingested(tmp_path, realworld,
                                                                        broken):
    """81.2.69.160 is in MaxMind's test data: looking it up reaches the damaged part."""
    db = realworld / "geoip" / broken
    log = tmp_path / "access.log"
    log.write_text(line("81.2.69.160", 1) + "".join(line(f"192.0.2.{i}", i) for i in range(2, 40))
                   + line("2001:db8::7", 50))
    cfg = config(tmp_path, f'[geoip]\ncity_db = "{db}"\n')
    run = weblog(cfg, "ingest", str(log), "--as-of", str(AS_OF), "--json")
    assert run.returncode == 0, run.stderr
    warnings = run.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"weblog: warning: GeoIP city_db {db} ")
    assert "InvalidDatabaseError" in warnings[0]
    no_address(run.stderr)  # maxminddb's own message quotes the address it looked up
    import json

    (result,) = json.loads(run.stdout)
    assert result["status"] == "ingested" and result["lines_parsed"] == 40
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*), count(city), count(country) from requests"
                           ).fetchall() == [(40, 0, 0)]
    finally:
        con.close()

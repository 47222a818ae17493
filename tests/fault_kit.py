"""Killing real `weblog` processes at reproducible points, and what must hold afterwards.

A kill point is either a delay after the child took the data-dir lock (it writes its pid
into DATA_DIR/.weblog.lock, so interpreter start-up is not counted) or a file-system
event (a staging folder appearing, a manifest written, a WAL created...) polled every
millisecond, optionally plus a small delay. Delays come from a seeded random generator
spread over the measured duration of an uninterrupted run, so a failing point can be
replayed exactly by its name (`ingest-delay-07`).

`WEBLOG_LONG_FAULTS=1` multiplies the seeded points (the long opt-in run; never in make
test).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import detail, raw, removal
from pipelines.aggregate import STATS_TABLES
from pipelines.config import Config, load_config
from pipelines.lock import LOCK_NAME

REPO = Path(__file__).resolve().parent.parent
WEBLOG = str(Path(sys.executable).parent / "weblog")
LONG = os.environ.get("WEBLOG_LONG_FAULTS", "") not in ("", "0")
#: seeded delay points per command: 10 in make test (plus the event points), 200 long
DELAY_POINTS = 200 if LONG else 10


@dataclass(frozen=True)
class KillPoint:
    name: str
    delay: float = 0.0  # seconds after the lock was taken (or after the event)
    event: Callable[[Path], bool] | None = None  # polled on the data dir

    def __str__(self) -> str:
        return self.name


def seeded_points(command: str, active_seconds: float, n: int = DELAY_POINTS,
                  events: dict[str, Callable[[Path], bool]] | None = None) -> list[KillPoint]:
    """n delays spread over [0, active_seconds) (stratified, so every part of the run is
    hit), then each event at once and with a seeded delay of up to 50 ms."""
    rng = random.Random(f"weblog-faults-{command}")
    points = [KillPoint(f"{command}-delay-{i:02d}", (i + rng.random()) / n * active_seconds)
              for i in range(n)]
    for name, event in (events or {}).items():
        points.append(KillPoint(f"{command}-{name}", 0.0, event))
        points.append(KillPoint(f"{command}-{name}+", rng.uniform(0.002, 0.05), event))
    return points


def env_for(cwd: Path) -> dict[str, str]:
    """The child's environment: no Prefect or weblog variables from the test process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "WEBLOG_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def lock_taken_by(data_dir: Path, pid: int) -> bool:
    try:
        return (Path(data_dir) / LOCK_NAME).read_text().strip() == str(pid)
    except OSError:
        return False


@dataclass
class Outcome:
    killed: bool
    returncode: int
    stdout: str
    stderr: str
    active_seconds: float  # from taking the lock (or the event) to the kill or exit


def run_weblog(args: list[str], data_dir: Path, point: KillPoint | None = None, *,
               cwd: Path | None = None, timeout: float = 120.0) -> Outcome:
    """Run `weblog ARGS`; with a point, SIGKILL it there (if it is still running)."""
    proc = subprocess.Popen([WEBLOG, *args], cwd=cwd or REPO, env=env_for(cwd or REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    armed_at = None
    killed = False
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"weblog {' '.join(args)} did not finish in {timeout} s")
            now = time.monotonic()
            if armed_at is None:
                ready = (point.event(data_dir) if point is not None and point.event
                         else lock_taken_by(data_dir, proc.pid))
                if ready:
                    armed_at = now
            if point is not None and armed_at is not None:
                # a delay is slept in one go (polling would compete with the child for CPU)
                time.sleep(max(0.0, point.delay - (now - armed_at)))
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
                break
            time.sleep(0.001)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    active = time.monotonic() - armed_at if armed_at is not None else 0.0
    return Outcome(killed and proc.returncode == -signal.SIGKILL, proc.returncode, stdout,
                   stderr, active)


# --------------------------------------------------------------------------- events

def exists(pattern: str) -> Callable[[Path], bool]:
    """An event: a path matching `pattern` (a glob under the data dir) exists."""
    def event(data_dir: Path) -> bool:
        return next(iter(Path(data_dir).glob(pattern)), None) is not None
    event.__name__ = f"exists({pattern})"
    return event


def lines_at_least(pattern: str, n: int) -> Callable[[Path], bool]:
    """An event: a file matching `pattern` has at least n lines (the ledger mirror)."""
    def event(data_dir: Path) -> bool:
        for p in Path(data_dir).glob(pattern):
            try:
                return p.read_bytes().count(b"\n") >= n
            except OSError:
                return False
        return False
    event.__name__ = f"lines_at_least({pattern}, {n})"
    return event


# --------------------------------------------------------------------------- checks

def copy_site(source: Path, target: Path) -> Config:
    """A private copy of a site folder (logs, geoip, config, data) and its Config."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(LOCK_NAME))
    return load_config(target / "weblog.toml")


def leftovers(data_dir: Path) -> list[str]:
    """What an interrupted run may leave and a finished rerun must not: anything in
    raw/.staging, .tmp, .spool, .purging, a *.tmp or *.rewrite file anywhere, a file under
    detail/ that `detail_files` does not list."""
    data_dir = Path(data_dir)
    found = []
    for folder in (raw.staging_root(data_dir), raw.temp_root(data_dir),
                   raw.spool_root(data_dir), removal.purging_root(data_dir)):
        if folder.is_dir():
            found += [str(p.relative_to(data_dir)) for p in folder.iterdir()]
    for p in data_dir.rglob("*"):
        if p.is_file() and (".tmp" in p.name or p.name.endswith((".rewrite", ".rewrite.wal"))):
            found.append(str(p.relative_to(data_dir)))
    warehouse_file = data_dir / "warehouse.duckdb"
    if warehouse_file.exists():  # DETAIL files that no transaction listed
        con = duckdb.connect(str(warehouse_file), read_only=True)
        try:
            found += [str(p.relative_to(data_dir)) for p in detail.unlisted(con, data_dir)]
        finally:
            con.close()
    return sorted(found)


def query(cfg: Config, sql: str) -> list[tuple]:
    con = duckdb.connect(str(Path(cfg.data_dir) / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _listing(files: list[Path]) -> str:
    return ", ".join(f"'{p.as_posix()}'" for p in files)


def _source(alias: str) -> str:
    """The ledger path's file name: ids are not stable across a killed run, and copies of
    a site have different folders."""
    return f"regexp_extract({alias}.path, '[^/]+$') as source"


def contents(cfg: Config, database: Path | None = None) -> dict[str, list[tuple]]:
    """Everything a run leaves in the warehouse and RAW, comparable between two sites:
    every statistics table (stats_days without its computed-at time and its ingest
    watermark, a file id: a killed ingest consumes ids, a rerun takes new ones), the
    ledger's counts per file, DETAIL rows, RAW records and rejects lines, each keyed by
    the source file's name instead of its id. `database`: another file to read (the
    published snapshot: its statistics only)."""
    out: dict[str, list[tuple]] = {}
    con = duckdb.connect(str(database or Path(cfg.data_dir) / "warehouse.duckdb"),
                         read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        have = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        for table in STATS_TABLES:
            if table in have:
                cols = ("* exclude (stats_computed_at, ingest_watermark)"
                        if table == "stats_days" else "*")
                out[table] = con.execute(f"select {cols} from {table} order by all").fetchall()
        if "detail_rows" not in have:  # the snapshot, or no warehouse yet (`requests` is a
            return out                 # view: duckdb_tables() does not list it)
        out["ledger"] = con.execute(
            f"select {_source('f')}, lines_read, lines_parsed, lines_rejected, lines_too_old, "
            "lines_bad_client from ingested_files f order by all").fetchall()
        out["requests"] = con.execute(
            f"select {_source('f')}, r.* exclude (source_file_id) from requests r "
            "join ingested_files f on f.file_id = r.source_file_id order by all").fetchall()
        records = list(raw.raw_root(cfg.data_dir).glob("date=*/*.parquet"))
        out["raw"] = con.execute(
            f"select {_source('f')}, r.* exclude (source_file_id) from read_parquet("
            f"[{_listing(records)}], hive_partitioning = false) r "
            "join ingested_files f on f.file_id = r.source_file_id order by all"
        ).fetchall() if records else []
        rejects = list(raw.rejects_root(cfg.data_dir).glob("date=*/*.parquet"))
        out["rejects"] = con.execute(
            f"select {_source('f')}, r.line_no, r.reason, r.line from read_parquet("
            f"[{_listing(rejects)}], hive_partitioning = false) r "
            "join ingested_files f on f.file_id = r.source_file_id order by all"
        ).fetchall() if rejects else []
        out["duplicate_detail_keys"] = con.execute(
            "select source_file_id, line_no, count(*) from requests "
            "group by all having count(*) > 1 limit 5").fetchall()
    finally:
        con.close()
    return out


def stats_of(snapshot: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {t: snapshot[t] for t in STATS_TABLES if t in snapshot}

"""The published snapshot: the statistics the dashboard serves, apart from the warehouse.

DuckDB lets one process hold a database file read-write and then refuses every other
process, read-only ones included. The dashboard must keep answering while the nightly
run writes, so it never opens the warehouse: it reads DATA_DIR/published/stats.duckdb,
which `publish` writes after each aggregate (and the nightly flow's publish step):

 1. under the data-dir lock, open a fresh file published/.stats-<random>.duckdb.tmp;
 2. copy into it the STATS tables (pipelines.aggregate.STATS_TABLES), the ledgers
    (`purge_ledger` when the retention code has created it, and the ingest ledger's
    hashes and counts) and one `snapshot_meta` row (when, policy, DETAIL's extent);
 3. close, fsync, and rename it over published/stats.duckdb.

A reader sees the old snapshot or the new one, never a mix; a reader that opened the
old file keeps reading it (the rename does not touch an open file). DETAIL (`requests`)
and RAW never enter the snapshot, so nothing the dashboard serves can hold a client's
network, let alone an address.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import warehouse
from .aggregate import STATS_TABLES
from .config import Config
from .errors import LockedError, WeblogError
from .lock import data_dir_lock
from .parse import sql_str

PUBLISHED_DIR = "published"
SNAPSHOT_NAME = "stats.duckdb"
#: The purge ledger (retention issue): copied as it is when the warehouse has it.
LEDGER_TABLE = "purge_ledger"
#: Ingest ledger columns an auditor needs (hashes and counts; no content).
INGEST_COLUMNS = ("file_id", "path", "format", "compression", "size", "sha256",
                  "content_sha256", "lines_read", "lines_parsed", "lines_rejected",
                  "lines_too_old", "lines_bad_client", "first_ts", "last_ts", "as_of",
                  "ingested_at")
#: Every table a snapshot may hold; the dashboard's allow-list.
SNAPSHOT_TABLES = STATS_TABLES + (LEDGER_TABLE, "ingested_files", "snapshot_meta")


@dataclass
class PublishResult:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    published_at: dt.datetime | None = None
    seconds: float = 0.0


def published_dir(data_dir: Path) -> Path:
    return Path(data_dir) / PUBLISHED_DIR


def snapshot_path(data_dir: Path) -> Path:
    return published_dir(data_dir) / SNAPSHOT_NAME


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables "
                       "where table_catalog = ? and table_schema = 'main'", [catalog]).fetchall()
    return {t for (t,) in rows}


def _copy(con: duckdb.DuckDBPyConnection, src: str, cfg: Config,
          published_at: dt.datetime) -> dict[str, int]:
    have = _tables(con, src)
    rows: dict[str, int] = {}
    for table in STATS_TABLES + (LEDGER_TABLE,):
        if table in have:  # a warehouse from before the statistics (or the ledger) has none
            con.execute(f"create table pub.{table} as select * from {src}.main.{table}")
            rows[table] = con.execute(f"select count(*) from pub.{table}").fetchall()[0][0]
    if "ingested_files" in have:
        cols = ", ".join(INGEST_COLUMNS)
        con.execute(f"create table pub.ingested_files as select {cols} "
                    f"from {src}.main.ingested_files order by file_id")
        rows["ingested_files"] = con.execute("select count(*) from pub.ingested_files"
                                             ).fetchall()[0][0]
    detail = (con.execute(f"select min(day), max(day), count(*) from {src}.main.requests"
                          ).fetchall()[0] if "requests" in have else (None, None, 0))
    con.execute("""
        create table pub.snapshot_meta as select
            $published_at::timestamp as published_at, $policy::json as policy,
            $detail_first::date as detail_first_day, $detail_last::date as detail_last_day,
            $detail_rows::bigint as detail_rows
    """, {"published_at": published_at.replace(tzinfo=None), "policy": json.dumps(cfg.policy()),
          "detail_first": detail[0], "detail_last": detail[1], "detail_rows": detail[2]})
    return rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(cfg: Config, con: duckdb.DuckDBPyConnection | None = None) -> PublishResult:
    """Write the snapshot and rename it into place. With `con` (a read-write connection
    to the warehouse, e.g. the one an aggregate run holds) the tables are copied through
    it; without, the warehouse is opened read-only."""
    started = time.perf_counter()
    folder = published_dir(cfg.data_dir)
    target = snapshot_path(cfg.data_dir)
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="publish"):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".stats-*.tmp*"):  # left by a killed publish
            stale.unlink(missing_ok=True)
        tmp = folder / f".stats-{uuid.uuid4().hex}.tmp"
        published_at = dt.datetime.now(dt.timezone.utc)
        own = con is None
        if own:
            if not warehouse.warehouse_path(cfg.data_dir).exists():
                raise WeblogError(f"No warehouse in {cfg.data_dir} yet: nothing to publish.")
            con = duckdb.connect()
            con.execute("set TimeZone = 'UTC'")
            try:
                con.execute(f"attach {sql_str(str(warehouse.warehouse_path(cfg.data_dir)))} "
                            "as wh (read_only)")
            except duckdb.IOException as exc:
                con.close()
                if "lock" in str(exc).lower():
                    raise LockedError("The warehouse is in use by another process; publish "
                                      "again when it is done.") from None
                raise WeblogError(f"Cannot open the warehouse "
                                  f"{warehouse.warehouse_path(cfg.data_dir)} "
                                  f"({type(exc).__name__}): is it a DuckDB file?") from None
        try:
            src = "wh" if own else con.execute("select current_database()").fetchall()[0][0]
            con.execute(f"attach {sql_str(str(tmp))} as pub")
            try:
                rows = _copy(con, src, cfg, published_at)
            finally:
                con.execute("detach pub")
            _fsync(tmp)
            os.replace(tmp, target)
            _fsync(folder)
        finally:
            if own:
                con.close()
            for leftover in folder.glob(tmp.name + "*"):  # the temp file (and a WAL) on failure
                leftover.unlink(missing_ok=True)
    return PublishResult(target, rows, published_at, time.perf_counter() - started)

"""Rewriting the warehouse into a fresh file, so deleted rows leave its bytes.

DuckDB never overwrites freed pages in place: after DELETE (and CHECKPOINT, VACUUM) the
old values stay in warehouse.duckdb until the file is rewritten (../shared/
DEPENDENCY-NOTES.md). So after a purge or erasure deleted warehouse rows, `rewrite` copies
every live row into DATA_DIR/warehouse.duckdb.rewrite (`COPY FROM DATABASE`: tables with
constraints, sequences with their current values, views), checks that every table has the
same row count in both, and swaps the fresh file in with one atomic rename. The ledger
records the rewrite (`rewrite_warehouse`) after the swap.

Crash safety: a leftover .rewrite file (killed during the copy) is deleted and the copy
redone; killed after the swap but before the ledger entry, the next purge sees a
deletion with no rewrite after it (`needs_rewrite`) and simply rewrites again. Needs
free disk space for a second copy of the warehouse while it runs.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

from . import ledger, raw, warehouse
from .errors import WeblogError
from .parse import sql_str

SUFFIX = ".rewrite"


def rewrite_path(data_dir: Path) -> Path:
    path = warehouse.warehouse_path(data_dir)
    return path.with_name(path.name + SUFFIX)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def needs_rewrite(con: duckdb.DuckDBPyConnection) -> int | None:
    """Sequence of the newest ledger entry that deleted warehouse rows with no rewrite
    after it, else None."""
    if not ledger.table_exists(con):
        return None
    # an erasure that found no DETAIL row to delete left nothing behind in the file
    row = con.execute(f"""
        select max(sequence) filter (where action = 'purge_detail' or (action = 'erase_subject'
                   and coalesce(try_cast(json_extract_string(details, '$.detail_rows')
                                         as bigint), 1) > 0)),
               max(sequence) filter (where action = 'rewrite_warehouse')
        from {ledger.TABLE}""").fetchall()[0]
    deleted, rewritten = row
    return deleted if deleted is not None and (rewritten is None or rewritten < deleted) else None


def clear_leftover(data_dir: Path) -> bool:
    """Delete what a rewrite killed before its swap left behind."""
    found = False
    for path in (rewrite_path(data_dir), _wal(rewrite_path(data_dir))):
        if path.exists():
            path.unlink()
            found = True
    return found


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    return [t for (t,) in con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'main' "
        "and not temporary order by 1", [database]).fetchall()]


def _counts(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    return {t: con.execute(f'select count(*) from "{database}".main."{t}"').fetchall()[0][0]
            for t in _tables(con, database)}


def rewrite(data_dir: Path, *, force_compression: str | None = None) -> dict[str, object]:
    """Copy the warehouse into a fresh file and swap it in (caller holds the data-dir lock
    and no open connection). Returns bytes before/after and rows per table.

    `force_compression` ('uncompressed' in tests) makes DuckDB store every value verbatim,
    so a byte scan of the new file can show what is, and is not, in it.
    """
    path = warehouse.warehouse_path(data_dir)
    fresh = rewrite_path(data_dir)
    clear_leftover(data_dir)
    before = path.stat().st_size
    mode = path.stat().st_mode & 0o777
    con = warehouse.connect(data_dir, temp_dir=raw.temp_root(data_dir))
    try:
        if force_compression:
            con.execute(f"set force_compression = {sql_str(force_compression)}")
        con.execute("checkpoint")
        (name,) = con.execute("select current_database()").fetchall()[0]
        con.execute(f"attach {sql_str(fresh.as_posix())} as weblog_fresh")
        try:
            con.execute(f'copy from database "{name}" to weblog_fresh')
            old, new = _counts(con, name), _counts(con, "weblog_fresh")
            con.execute("checkpoint weblog_fresh")
        finally:
            con.execute("detach weblog_fresh")
    finally:
        con.close()
    if _wal(path).exists():  # closing checkpoints: a WAL left here would replay onto the copy
        clear_leftover(data_dir)
        raise WeblogError("The warehouse still has a write-ahead log after closing; it was "
                          "not rewritten.")
    if old != new:
        clear_leftover(data_dir)
        raise WeblogError("The warehouse rewrite copied a different number of rows; the old "
                          "file was kept and nothing was swapped.")
    if _wal(fresh).exists():  # every change was checkpointed: a WAL here is unexpected
        clear_leftover(data_dir)
        raise WeblogError("The rewritten warehouse was not fully checkpointed; the old file "
                          "was kept.")
    os.chmod(fresh, mode)
    with open(fresh, "rb") as f:
        os.fsync(f.fileno())
    os.replace(fresh, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"bytes_before": before, "bytes_after": path.stat().st_size, "rows": old}

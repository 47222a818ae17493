"""`weblog export`: one statistics table to CSV, Parquet or JSON, written atomically.

Only the STATS tables (pipelines.aggregate.STATS_TABLES) can be exported: DETAIL and
RAW never leave the warehouse this way. Rows are ordered, so the same table gives the
same file.

CSV is opened by spreadsheets, which run a cell that starts with '=', '+', '-' or '@'
(and, in some, a tab or carriage return) as a formula; values from logs (paths, domains,
browser names) are attacker-chosen. Every text cell that starts with one of those gets a
leading apostrophe (OWASP's "CSV injection" advice); numbers are left as they are.

The file is written next to its destination under a temporary name and renamed into
place, so a reader never sees half a file and a failed export leaves the old file intact.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import duckdb

from .aggregate import STATS_TABLES
from .errors import InputError
from .parse import sql_str

FORMATS = ("csv", "parquet", "json")
FORMULA_START = r"^[=+\-@\t\r\n]"


def format_for(path: Path, fmt: str | None) -> str:
    """The export format: given, else from the file's suffix."""
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise InputError(f"Give --format ({', '.join(FORMATS)}): the suffix of {path} names none.")


def _select(con: duckdb.DuckDBPyConnection, table: str, fmt: str) -> str:
    cols = con.execute("select column_name, data_type from information_schema.columns "
                       "where table_schema = 'main' and table_name = ? order by ordinal_position",
                       [table]).fetchall()
    if not cols:
        raise InputError(f"Table {table} does not exist yet: run `weblog aggregate` first.")
    out = []
    for name, kind in cols:
        ident = f'"{name}"'
        if fmt == "csv" and kind == "VARCHAR":
            out.append(f"case when regexp_matches({ident}, {sql_str(FORMULA_START)}) "
                       f"then '''' || {ident} else {ident} end as {ident}")
        else:
            out.append(ident)
    return ", ".join(out)


def export_table(con: duckdb.DuckDBPyConnection, table: str, out: Path, fmt: str,
                 start: dt.date | None = None, end: dt.date | None = None) -> int:
    """Write `table` (days in [start, end]) to `out`; return the number of rows."""
    if table not in STATS_TABLES:
        raise InputError(f"Only statistics tables can be exported ({', '.join(STATS_TABLES)}), "
                         f"not {table!r}.")
    if fmt not in FORMATS:
        raise InputError(f"Unknown export format {fmt!r} (use {', '.join(FORMATS)}).")
    if start and end and start > end:
        raise InputError(f"--from {start} is after --to {end}.")
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name with -o.")
    if not out.parent.is_dir():
        raise InputError(f"No such folder: {out.parent}.")
    columns = _select(con, table, fmt)
    # COPY takes no parameters: the bounds are dates, written as literals
    bounds = [f"day {op} DATE '{d.isoformat()}'" for op, d in ((">=", start), ("<=", end)) if d]
    where = f"where {' and '.join(bounds)} " if bounds else ""
    query = f"select {columns} from {table} {where}order by all"
    options = {"csv": "FORMAT csv, HEADER true",
               "parquet": "FORMAT parquet, COMPRESSION zstd",
               "json": "FORMAT json, ARRAY true"}[fmt]
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        (count,) = con.execute(f"COPY ({query}) TO {sql_str(str(tmp))} ({options})").fetchall()[0]
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return int(count)

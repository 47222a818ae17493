"""The DETAIL tier on disk: day-partitioned Parquet behind the warehouse view `requests`.

    DATA_DIR/detail/                       0700
        date=YYYY-MM-DD/F-C.parquet        0600  DETAIL rows of ingest F (ledger file_id),
                                                 chunk C, of that site-local day
        date=YYYY-MM-DD/F-C.eB.parquet           the same file after erasure batch B took
                                                 rows out of it

DETAIL rows hold truncated networks, registered domains and families only (the columns
of sql/schema/002_requests.sql); the warehouse lists the files that hold them in
`detail_files` (name, day, file_id, row_count) and `requests` is a view over those files
and the table `detail_rows` (DETAIL as warehouses before this layout stored it; such rows
stay there, purged and erased with DELETE, until their day expires). Every reader, SQL
model and user query reads `requests` as before.

Why files: inserting a 5M-line ingest's DETAIL rows into a DuckDB table took 3 s of its
25 s on 2 cores (7.7 CPU-s: DuckDB's table storage, not compression), after the stage had
already written them as Parquet. Now the commit moves those files into place. A purged
DETAIL day is a deleted folder (no warehouse rewrite needed for it).

All or nothing, by one rule: a file is DETAIL when `detail_files` lists it, and only then.
A file enters the list in the same transaction as what brings it (the ingest ledger row;
an erasure's ledger entry, with the copy that replaces it) and leaves it in the
transaction that purges or replaces it. The file is moved into place before that
transaction and deleted after it; a file under detail/ that the list does not name is a
leftover of a run killed in between and `sweep` deletes it (every writer calls it under
the data-dir lock, through pipelines.ingest.recover). So the view never names a missing
file, and nothing half-written is ever read.

The view names each file with its absolute path (DuckDB resolves relative paths against
the process's working directory), so `refresh_view` rewrites it when the data directory
was moved: every writable warehouse connection checks it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from . import raw
from .parse import sql_str

ROOT = "detail"
TABLE = "detail_rows"  # DETAIL rows stored in the warehouse itself (the layout before files)
FILES = "detail_files"
VIEW = "requests"
_NAME = re.compile(r"^(\d+)-(\d+)(?:\.e[0-9a-z-]+)?\.parquet$")


def detail_root(data_dir: Path) -> Path:
    return Path(data_dir) / ROOT


def prepare(data_dir: Path) -> Path:
    return raw.ensure_dir(detail_root(data_dir))


def relative(path: Path, data_dir: Path) -> str:
    """A DETAIL file's name as `detail_files` records it: detail/date=D/F-C.parquet."""
    return Path(path).relative_to(data_dir).as_posix()


def file_id_of(name: str) -> int | None:
    m = _NAME.match(Path(name).name)
    return int(m.group(1)) if m else None


def erased_name(name: str, batch: str) -> str:
    """The name of the copy of `name` that erasure batch `batch` writes."""
    base = Path(name).name.split(".", 1)[0]
    return (Path(name).parent / f"{base}.e{batch.lower()}.parquet").as_posix()


# --------------------------------------------------------------------------- the list

def migrated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has this layout (a read-only connection to a warehouse of an
    older version has not been migrated: its DETAIL is the table `requests`)."""
    return bool(con.execute("select count(*) from duckdb_tables() where database_name = "
                            f"current_database() and schema_name = 'main' and table_name = "
                            f"'{FILES}'").fetchall()[0][0])


def listed(con: duckdb.DuckDBPyConnection, day: dt.date | None = None) -> list[str]:
    """Names (relative to the data dir) of the files holding DETAIL, of one day or all."""
    if not migrated(con):
        return []
    if day is None:
        rows = con.execute(f"select name from {FILES} order by name").fetchall()
    else:
        rows = con.execute(f"select name from {FILES} where day = ? order by name",
                           [day]).fetchall()
    return [n for (n,) in rows]


def day_files(con: duckdb.DuckDBPyConnection, data_dir: Path, day: dt.date) -> list[Path]:
    return [Path(data_dir) / n for n in listed(con, day)]


def register(con: duckdb.DuckDBPyConnection, data_dir: Path, files: Iterable[Path]) -> int:
    """Add files already in place under detail/ to the list (inside the caller's
    transaction); return their rows. Row counts come from each file's footer."""
    names = [relative(f, data_dir) for f in files]
    if not names:
        return 0
    keys = []
    for n in names:
        day, fid = raw.partition_day(Path(n).parent.name), file_id_of(n)
        if day is None or fid is None or Path(n).parts[0] != ROOT:
            raise ValueError(f"not a DETAIL file name: {n}")
        keys.append((day, fid))
    listing = ", ".join(sql_str((Path(data_dir) / n).as_posix()) for n in names)
    counts = dict(con.execute(
        f"select file_name, sum(num_rows) from parquet_file_metadata([{listing}]) group by 1"
    ).fetchall())
    rows = [(n, day, fid, int(counts[(Path(data_dir) / n).as_posix()]))
            for n, (day, fid) in zip(names, keys)]
    con.executemany(f"insert into {FILES} values (?, ?, ?, ?)", rows)
    return sum(r[3] for r in rows)


def unregister(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> int:
    """Take files off the list (inside the caller's transaction); return their rows."""
    names = list(names)
    if not names:
        return 0
    placeholders = ", ".join("?" for _ in names)
    (rows,) = con.execute(f"select coalesce(sum(row_count), 0) from {FILES} "
                          f"where name in ({placeholders})", names).fetchall()[0]
    con.execute(f"delete from {FILES} where name in ({placeholders})", names)
    return int(rows)


# --------------------------------------------------------------------------- days and rows

#: (day, source_file_id, rows) of every DETAIL day, files and table together
_PER_DAY = f"""
    select day, file_id as source_file_id, row_count as n from {FILES}
    union all
    select day, source_file_id, count(*) as n from {TABLE} group by all
"""
_PER_DAY_UNMIGRATED = f"select day, source_file_id, count(*) as n from {VIEW} group by all"


def _per_day(con: duckdb.DuckDBPyConnection) -> str:
    return _PER_DAY if migrated(con) else _PER_DAY_UNMIGRATED


def rows_per_day(con: duckdb.DuckDBPyConnection, before: dt.date | None = None
                 ) -> dict[dt.date, int]:
    """DETAIL rows per day (of days before `before` when given), without reading rows."""
    rows = con.execute(f"select day, sum(n) from ({_per_day(con)}) "
                       "where day < coalesce(?, day + 1) group by day order by day",
                       [before]).fetchall()
    return {d: int(n) for d, n in rows if n}


def newest_file_per_day(con: duckdb.DuckDBPyConnection) -> str:
    """SQL: (day, newest) = the highest ingest file_id holding DETAIL rows of the day."""
    return f"select day, max(source_file_id) as newest from ({_per_day(con)}) group by day"


def newest_file_of(con: duckdb.DuckDBPyConnection, day: dt.date) -> int | None:
    (newest,) = con.execute(f"select max(source_file_id) from ({_per_day(con)}) where day = ?",
                            [day]).fetchall()[0]
    return newest


# --------------------------------------------------------------------------- SQL over files

def _columns(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> list[tuple[str, str]]:
    """(name, type) of the columns of a table or view of the warehouse, in order."""
    return [(name, kind) for name, kind in con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = "
        "current_database() and schema_name = 'main' and table_name = ? "
        "order by column_index", [table]).fetchall()]


def relation_sql(con: duckdb.DuckDBPyConnection, files: list[Path],
                 table_filter: str = "true") -> str:
    """SQL of the DETAIL rows in `files` and in the table (rows matching `table_filter`),
    with the table's column types and order."""
    columns = _columns(con)
    parts = [f"select * from main.{TABLE} where {table_filter}"]
    if files:
        listing = ", ".join(sql_str(Path(f).as_posix()) for f in files)
        select = ", ".join(f'cast("{n}" as {t}) as "{n}"' for n, t in columns)
        parts.append(f"select {select} from read_parquet([{listing}], "
                     "hive_partitioning = false)")
    return "\nunion all\n".join(parts)


def _current(con: duckdb.DuckDBPyConnection, files: list[Path]) -> bool:
    """Whether `requests` names exactly `files`, with the table's columns."""
    have = con.execute("select sql from duckdb_views() where database_name = current_database() "
                       "and schema_name = 'main' and view_name = ?", [VIEW]).fetchall()
    if not (have and have[0][0]):
        return False
    named = re.findall(r"'((?:[^']|'')*\.parquet)'", have[0][0])
    if named != [f.as_posix().replace("'", "''") for f in files]:
        return False
    return _columns(con, VIEW) == _columns(con)


def refresh_view(con: duckdb.DuckDBPyConnection, data_dir: Path, *,
                 temporary: bool = False) -> bool:
    """(Re)define `requests` over the listed files unless it already names exactly them
    with the table's columns; True when it was rewritten. Call inside the transaction that
    changed the list. `temporary`: for a read-only connection to a moved data directory, a
    temporary view of the same name (it takes precedence) instead."""
    files = [Path(data_dir).absolute() / n for n in listed(con)]
    if _current(con, files):
        return False
    kind = "temp view" if temporary else "view"
    con.execute(f"create or replace {kind} {VIEW} as\n{relation_sql(con, files)}")
    return True


# --------------------------------------------------------------------------- files on disk

def place(data_dir: Path, staged: Path, files: list[Path]) -> list[Path]:
    """Move staged DETAIL files (staged/date=D/F-C.parquet) into detail/date=D/, owner-only
    and durable; return their new paths. Not yet DETAIL: `register` makes them so."""
    return raw.move_into(prepare(data_dir), staged, files)


def on_disk(data_dir: Path) -> list[Path]:
    root = detail_root(data_dir)
    return sorted(root.glob("date=*/*")) if root.is_dir() else []


def unlisted(con: duckdb.DuckDBPyConnection, data_dir: Path) -> list[Path]:
    """Files under detail/ that are not DETAIL (leftovers of an interrupted run)."""
    names = set(listed(con))
    return [f for f in on_disk(data_dir) if relative(f, data_dir) not in names]


def sweep(con: duckdb.DuckDBPyConnection, data_dir: Path) -> list[str]:
    """Delete the files under detail/ that `detail_files` does not list, and emptied day
    folders (caller holds the data-dir lock); return the names deleted."""
    gone = []
    for f in unlisted(con, data_dir):
        if f.is_dir():
            continue
        f.unlink(missing_ok=True)
        gone.append(relative(f, data_dir))
    root = detail_root(data_dir)
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if gone:
            raw.fsync_dir(root)
    return gone

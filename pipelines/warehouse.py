"""The warehouse: DATA_DIR/warehouse.duckdb, its schema migrations and connections.

Schema lives in sql/schema/NNN_name.sql, applied in order once each and recorded in
`schema_migrations`. Every connection runs with TimeZone=UTC (timestamps are UTC
instants; site-local days are computed explicitly) and spills to a temp folder inside
raw/, because what DuckDB spills during an ingest holds full addresses (invariant 1) and
must sit where the RAW permissions and purge apply.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from .errors import ConfigError, LockedError, WeblogError


def _sql_dir(package: Path) -> Path:
    """sql/ beside the package in a checkout (editable install), else the copy an installed
    wheel carries inside the package (pyproject.toml maps sql/ to pipelines/sql/)."""
    beside = package.parent / "sql"
    return beside if (beside / "schema").is_dir() else package / "sql"


SQL_DIR = _sql_dir(Path(__file__).resolve().parent)
WAREHOUSE_NAME = "warehouse.duckdb"
_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def warehouse_path(data_dir: Path) -> Path:
    return Path(data_dir) / WAREHOUSE_NAME


def sql_file(relative: str) -> str:
    """Text of a file under sql/ (e.g. 'marts/daily_traffic.sql')."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def migrations() -> list[tuple[int, Path]]:
    out = []
    for path in sorted((SQL_DIR / "schema").glob("*.sql")):
        m = _MIGRATION.match(path.name)
        if not m:
            raise WeblogError(f"Schema file {path.name} is not named NNN_name.sql.")
        out.append((int(m.group(1)), path))
    return out


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply pending migrations, each in its own transaction; return the versions applied."""
    con.execute("create table if not exists schema_migrations "
                "(version integer primary key, name varchar not null, applied_at timestamp not null)")
    done = {v for (v,) in con.execute("select version from schema_migrations").fetchall()}
    applied = []
    for version, path in migrations():
        if version in done:
            continue
        con.execute("begin transaction")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("insert into schema_migrations values (?, ?, now()::timestamp)",
                        [version, path.name])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        applied.append(version)
    return applied


DEFAULT_MEMORY_LIMIT = 1280 << 20  # bytes; see memory_limit
_MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)", re.IGNORECASE)


MIN_MEMORY_LIMIT = 64 * 10**6  # bytes (64MB)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def _size_bytes(size: str) -> float:
    """Bytes of a DuckDB size like '512MB' or '2 GiB' (already matched by _MEMORY_SIZE)."""
    number = re.match(r"[0-9.]+", size).group(0)
    return float(number) * _UNITS[size[len(number):].strip().upper()]


def memory_limit() -> str:
    """DuckDB's memory limit for weblog's connections: $WEBLOG_MEMORY_LIMIT, else 1280 MB
    (or half the machine's memory when that is less). Past it DuckDB spills to its temp
    folder, raw/.tmp for writers: a day of many millions of requests then aggregates a
    little slower but in bounded memory, instead of DuckDB's default of 80% of the machine.
    Measured on 2 cores: a day of 5M requests aggregates in 6.0 s and 1.4 GB at this
    limit (5.6 s, 1.6 GB at 4 GB); a day of 20M in 38 s and 1.55 GB (30 s, 4.3 GB at 4 GB)."""
    chosen = os.environ.get("WEBLOG_MEMORY_LIMIT", "").strip()
    if chosen:
        if not _MEMORY_SIZE.fullmatch(chosen):
            raise ConfigError(f"WEBLOG_MEMORY_LIMIT must be a size like 2GB or 512MB, not "
                              f"{chosen[:40]!r}.")
        if _size_bytes(chosen) < MIN_MEMORY_LIMIT:
            # below this DuckDB fails mid-transaction (and then cannot roll back)
            raise ConfigError(f"WEBLOG_MEMORY_LIMIT must be at least "
                              f"{MIN_MEMORY_LIMIT // 10**6}MB, not {chosen}.")
        return chosen
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        half = DEFAULT_MEMORY_LIMIT
    return f"{min(DEFAULT_MEMORY_LIMIT, half) >> 20}MB"


def configure(con: duckdb.DuckDBPyConnection, temp_dir: Path | None) -> None:
    """Session settings every weblog connection uses (the warehouse's and the stage's)."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set preserve_insertion_order = false")
    con.execute(f"set memory_limit = '{memory_limit()}'")
    if temp_dir is not None:
        con.execute(f"set temp_directory = '{temp_dir.as_posix()}'")


def connect(data_dir: Path, *, read_only: bool = False,
            temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating and migrating it when writable)."""
    path = warehouse_path(data_dir)
    if read_only and not path.exists():
        raise WeblogError(f"No warehouse at {path} yet: run `weblog ingest` first.")
    if not read_only:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise LockedError(f"The warehouse {path} is in use by another process (a weblog "
                              "run writing it); try again when it is done.") from None
        raise WeblogError(f"Cannot open the warehouse {path}: {exc}") from None
    try:
        configure(con, temp_dir)
    except BaseException:  # a bad WEBLOG_MEMORY_LIMIT: no open connection left behind
        con.close()
        raise
    from . import detail  # the view names its files by absolute path: a moved data dir
    if not read_only:
        migrate(con)
        with transaction(con):
            detail.refresh_view(con, Path(data_dir))
    elif detail.migrated(con):
        detail.refresh_view(con, Path(data_dir), temporary=True)
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to the same warehouse, configured like the first (TimeZone is
    per connection: without this a cursor would use the machine's time zone)."""
    other = con.cursor()
    configure(other, None)
    return other


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(table, column) for every VARCHAR column of every base table and of the view
    `requests` (DETAIL, whose rows live in Parquet files: pipelines.detail), for leak scans."""
    rows = con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'main' and data_type = 'VARCHAR' "
        "and table_name in (select table_name from information_schema.tables "
        "where table_schema = 'main' and (table_type = 'BASE TABLE' or table_name = 'requests')) "
        "order by 1, 2"
    ).fetchall()
    return [(t, c) for t, c in rows]

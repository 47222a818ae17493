"""The STATS tier: daily tables recomputed per day from DETAIL (and RAW while it exists).

For each site-local day, in ONE transaction:
 1. decide where visitors come from: 'raw' when the day's RAW partition
    (DATA_DIR/raw/date=D/, read for that day only) holds a row for every DETAIL row of the
    day, else 'detail' (RAW purged, or lines that were already too old for RAW);
 2. open the staging models: the views sql/staging/stg_raw_keys.sql (each RAW line's
    visitor key, full address or host name + user agent, and its 64-bit hash) and
    stg_raw_visitors.sql (only the numbers come out of RAW); check with
    stg_raw_visitor_collisions.sql that no two keys of the day share a hash, else number
    them exactly (stg_raw_visitors_numbered.sql); then materialise stg_referrer_classes
    (Python: pipelines.domains.classify_referrer) and sql/staging/stg_requests.sql (the
    day's DETAIL rows with flags and visitor_id), which every mart reads;
 3. for every mart in sql/marts/: DELETE the day's rows, INSERT the model's rows;
 4. record the day in `stats_days` with the ingest watermark it covers;
then COMMIT. Models read the day and settings from DuckDB variables (stats_day,
stats_visitor_source, stats_visitors_exact, k_min), so each file is plain SQL.

A day is stale when a DETAIL row of it comes from an ingest (ingested_files.file_id)
newer than its watermark; `days_needing_stats` lists those and the days without stats,
and the retention purge keeps RAW days for which `stats_current` is False.

Spills of the visitor keys hold full addresses, so the connection must spill into
raw/.tmp (warehouse.connect(temp_dir=raw.temp_root(...))); aggregate_days checks it.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from . import detail, raw, warehouse
from .config import Config
from .domains import classify_referrer
from .errors import InputError, WeblogError, stop_if_interrupted
from .lock import data_dir_lock
from .parse import sql_str

#: Mart tables in the order they are written; file sql/marts/<name>.sql each.
MARTS: tuple[str, ...] = (
    "daily_traffic", "hourly_traffic", "daily_pages", "daily_not_found", "daily_errors",
    "daily_status", "daily_referrers", "daily_channels", "daily_agents", "daily_bots",
    "daily_countries", "daily_cities", "daily_networks",
)
#: Tables keyed by something about the client: cells under k_min merged into '(other)'.
CLIENT_KEYED: dict[str, tuple[str, ...]] = {
    "daily_countries": ("country",),
    "daily_cities": ("country", "city"),
    "daily_networks": ("network",),
}
#: Everything `weblog export` may write: statistics only, never DETAIL or RAW.
STATS_TABLES: tuple[str, ...] = MARTS + ("stats_days",)
OTHER = "(other)"


@dataclass
class AggregateResult:
    """What one aggregate run did: days, counts, flags, seconds (no personal data)."""

    days: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    visitors_exact: dict[str, bool] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # day -> reason
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)  # day -> why (its stats kept as they were)

    def to_dict(self) -> dict:
        return asdict(self)

    def raise_for_failed(self) -> None:
        """One sentence naming the days whose statistics could not be computed."""
        if self.failed:
            raise WeblogError(f"Statistics for {len(self.failed)} day(s) could not be computed: "
                              + "; ".join(f"{d}: {why}" for d, why in self.failed.items()) + ".")


# --------------------------------------------------------------------------- state

def days_needing_stats(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Days in DETAIL without statistics, or whose statistics miss a newer ingest."""
    rows = con.execute(f"""
        with detail_days as ({detail.newest_file_per_day(con)})
        select d.day from detail_days d left join stats_days s using (day)
        where s.day is null or d.newest > s.ingest_watermark
        order by d.day
    """).fetchall()
    return [d for (d,) in rows]


def stats_current(con: duckdb.DuckDBPyConnection, day: dt.date) -> bool:
    """True when `day` has statistics covering every DETAIL row it has now."""
    row = con.execute("select ingest_watermark from stats_days where day = ?", [day]).fetchall()
    if not row or row[0][0] is None:
        return False
    newest = detail.newest_file_of(con, day)
    return row[0][0] >= (newest if newest is not None else -1)


def stats_day_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """stats_days as dicts, oldest first (for status and reports)."""
    cur = con.execute("select * from stats_days order by day")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# --------------------------------------------------------------------------- inputs

def raw_files(data_dir: Path, day: dt.date) -> list[Path]:
    """The Parquet files of one RAW day partition (nothing of any other day)."""
    folder = raw.raw_root(data_dir) / raw.partition_name(day)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _raw_rows(con: duckdb.DuckDBPyConnection, files: list[Path]) -> int:
    if not files:
        return 0
    listing = ", ".join(sql_str(f.as_posix()) for f in files)
    return con.execute(f"select coalesce(sum(num_rows), 0) from parquet_file_metadata([{listing}])"
                       ).fetchall()[0][0]


def referrer_class(domain: str | None, vhost: str | None, site_domains: tuple[str, ...]) -> str:
    """direct | internal | search | social | external. Internal: one of stats.site_domains,
    or the registered domain the vhost belongs to (same rule as DETAIL's referrer_path)."""
    if domain and vhost:
        v = vhost.strip().lower().rstrip(".")
        if v == domain or v.endswith("." + domain):
            return "internal"
    return classify_referrer(domain, site_domains)


def _referrer_classes(con: duckdb.DuckDBPyConnection, day: dt.date,
                      site_domains: tuple[str, ...]) -> pa.Table:
    pairs = con.execute("select distinct vhost, referrer_domain from detail_batch "
                        "where referrer_domain is not null").fetchall()
    return pa.table({
        "vhost": pa.array([v for v, _ in pairs], pa.string()),
        "referrer_domain": pa.array([d for _, d in pairs], pa.string()),
        "referrer_class": pa.array([referrer_class(d, v, site_domains) for v, d in pairs],
                                   pa.string()),
    })


def model_sql(relative: str) -> str:
    """A model's SELECT, ready to wrap in a subquery (trailing semicolon removed)."""
    return warehouse.sql_file(relative).strip().rstrip(";")


# --------------------------------------------------------------------------- one day

def _check_spill_folder(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    want = raw.temp_root(data_dir).resolve()
    have = con.execute("select current_setting('temp_directory')").fetchall()[0][0]
    if have and Path(have).resolve() == want:
        return
    raw.prepare(data_dir)
    try:
        con.execute(f"set temp_directory = {sql_str(want.as_posix())}")
    except duckdb.Error:
        raise WeblogError("The warehouse connection spills outside raw/.tmp; open it with "
                          "warehouse.connect(temp_dir=raw.temp_root(data_dir)).") from None


def _set_variables(con: duckdb.DuckDBPyConnection, day: dt.date, source: str, k_min: int) -> None:
    con.execute("set variable stats_day = ?::date", [day])
    con.execute("set variable stats_visitor_source = ?", [source])
    con.execute("set variable stats_visitors_exact = ?", [source == "raw"])
    con.execute("set variable k_min = ?::integer", [k_min])


def _stage(con: duckdb.DuckDBPyConnection, cfg: Config, day: dt.date, files: list[Path],
           source: str, *, numbered: bool = False) -> None:
    """(Re)build the day's staging relations for the given visitor source. From RAW, a
    visitor is the hash of its key (views, read where they are used) unless `numbered`:
    then the keys are numbered exactly into a temp table (a day whose hashes collide)."""
    _set_variables(con, day, source, cfg.k_min)
    _unstage(con)
    # the day's DETAIL: its files (nothing of any other day) and its rows in the table
    files_of_day = detail.day_files(con, cfg.data_dir, day)
    con.execute("create temp view detail_batch as "
                + detail.relation_sql(con, files_of_day, f"day = DATE '{day}'"))
    if source == "raw":
        listing = ", ".join(sql_str(f.as_posix()) for f in files)
        con.execute(f"create temp view raw_batch as select * from read_parquet([{listing}], "
                    "hive_partitioning = false, union_by_name = true)")
        con.execute("create temp view stg_raw_keys as " + model_sql("staging/stg_raw_keys.sql"))
        if numbered:
            con.execute("create temp table raw_visitor_numbers as "
                        + model_sql("staging/stg_raw_visitors_numbered.sql"))
            con.execute("create temp view stg_raw_visitors as select * from raw_visitor_numbers")
        else:
            con.execute("create temp view stg_raw_visitors as "
                        + model_sql("staging/stg_raw_visitors.sql"))
    else:
        con.execute("create temp table raw_visitor_numbers "
                    "(source_file_id integer, line_no bigint, visitor_id ubigint)")
        con.execute("create temp view stg_raw_visitors as select * from raw_visitor_numbers")
    classes = _referrer_classes(con, day, cfg.site_domains)
    con.register("referrer_classes_arrow", classes)
    con.execute("create temp table stg_referrer_classes as select * from referrer_classes_arrow")
    con.unregister("referrer_classes_arrow")
    con.execute("create temp table stg_requests as " + model_sql("staging/stg_requests.sql"))


def raw_visitor_collisions(con: duckdb.DuckDBPyConnection) -> int:
    """Distinct visitor keys of the staged day (the view stg_raw_keys) beyond the number of
    distinct hashed visitor ids: 0 unless the 64-bit hash collided."""
    return con.execute(model_sql("staging/stg_raw_visitor_collisions.sql")).fetchall()[0][0]


def _unstage(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("stg_requests", "stg_referrer_classes"):
        con.execute(f"drop table if exists {name}")
    for name in ("stg_raw_visitors", "stg_raw_keys", "raw_batch", "detail_batch"):
        con.execute(f"drop view if exists {name}")
    con.execute("drop table if exists raw_visitor_numbers")


def _aggregate_day(con: duckdb.DuckDBPyConnection, cfg: Config, day: dt.date,
                   detail_rows: int, result: AggregateResult) -> None:
    files = raw_files(cfg.data_dir, day)
    source = "raw" if files and _raw_rows(con, files) == detail_rows else "detail"
    with warehouse.transaction(con):
        _stage(con, cfg, day, files, source)
        if source == "raw" and raw_visitor_collisions(con):
            _stage(con, cfg, day, files, source, numbered=True)
        if source == "raw":
            # every DETAIL row must have found its RAW line; otherwise count from DETAIL
            (unmatched,) = con.execute("select count(*) from stg_requests "
                                       "where visitor_id is null").fetchall()[0]
            if unmatched:
                source = "detail"
                _stage(con, cfg, day, files, source)
        for mart in MARTS:
            con.execute(f"delete from {mart} where day = ?", [day])
            (n,) = con.execute(f"insert into {mart} by name select * from (\n"
                               f"{model_sql(f'marts/{mart}.sql')}\n)").fetchall()[0]
            result.rows[mart] = result.rows.get(mart, 0) + n
        con.execute("""
            insert or replace into stats_days
            select ?, now()::timestamp, coalesce((select max(file_id) from ingested_files), 0),
                   ?, ?, ?
        """, [day, detail_rows, source == "raw", source])
        _unstage(con)
    result.days.append(day.isoformat())
    result.visitors_exact[day.isoformat()] = source == "raw"


def _would_lose_exactness(con: duckdb.DuckDBPyConnection, cfg: Config, day: dt.date,
                          detail_rows: int) -> bool:
    """Current, exact statistics that a recompute could only make approximate."""
    row = con.execute("select visitors_exact from stats_days where day = ?", [day]).fetchall()
    if not (row and row[0][0] and stats_current(con, day)):
        return False
    files = raw_files(cfg.data_dir, day)
    return not files or _raw_rows(con, files) != detail_rows


def aggregate_days(con: duckdb.DuckDBPyConnection, cfg: Config,
                   days: list[dt.date] | None = None, *,
                   as_of: dt.date | None = None) -> AggregateResult:
    """Recompute the statistics of `days` (default: days_needing_stats, up to `as_of` when
    given), each day in one transaction. Explicit days without DETAIL rows are skipped
    (their statistics are kept), and so are current exact days whose RAW is gone. A day
    that fails (e.g. a damaged RAW file) is listed in `failed` with its statistics as they
    were, and the other days go on: callers decide (`raise_for_failed`)."""
    started = time.perf_counter()
    result = AggregateResult(rows={m: 0 for m in MARTS})
    _check_spill_folder(con, cfg.data_dir)
    explicit = days is not None
    todo = sorted(set(days)) if explicit else days_needing_stats(con)
    if as_of is not None:
        todo = [d for d in todo if d <= as_of]
    counts = detail.rows_per_day(con) if todo else {}
    for day in todo:
        n = counts.get(day, 0)
        if n == 0:
            result.skipped[day.isoformat()] = "no DETAIL rows (statistics kept as they are)"
            continue
        try:
            if explicit and _would_lose_exactness(con, cfg, day, n):
                result.skipped[day.isoformat()] = ("current exact statistics kept "
                                                   "(RAW no longer complete)")
                continue
            _aggregate_day(con, cfg, day, n, result)
        except duckdb.Error as exc:
            stop_if_interrupted()  # Ctrl-C, reported by DuckDB as an error: stop here
            # the database's message may quote a value from RAW (an address): name the
            # file or the day and the error class only; the transaction left the day as it
            # was, and the other days do not depend on it
            bad = raw.unreadable(raw_files(cfg.data_dir, day))
            where = (f"RAW file {raw.shown(bad[0], cfg.data_dir)} cannot be read" if bad
                     else "failed in the database")
            result.failed[day.isoformat()] = (f"{where} ({type(exc).__name__}); its statistics "
                                              "were kept as they were")
    result.seconds = time.perf_counter() - started
    return result


def detail_days(con: duckdb.DuckDBPyConnection, start: dt.date | None,
                end: dt.date | None) -> list[dt.date]:
    """Days with DETAIL rows inside [start, end] (open ends allowed)."""
    return [d for d in detail.rows_per_day(con)
            if (start is None or d >= start) and (end is None or d <= end)]


def run_aggregate(cfg: Config, *, start: dt.date | None = None, end: dt.date | None = None,
                  as_of: dt.date | None = None) -> AggregateResult:
    """`weblog aggregate`: under the data-dir lock, recompute the days needing statistics,
    or every DETAIL day in [start, end] when a bound is given; then publish the snapshot
    the dashboard reads."""
    if start and end and start > end:
        raise InputError(f"--from {start} is after --to {end}.")
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="aggregate"):
        raw.prepare(cfg.data_dir)
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        try:
            # an ingest killed after a commit left that file's RAW in staging: promote it
            # first, or its days would be counted from DETAIL (approximate) for good
            from .ingest import recover as recover_ingest
            recover_ingest(con, cfg.data_dir)
            days = detail_days(con, start, end) if (start or end) else None
            result = aggregate_days(con, cfg, days, as_of=as_of)
            # the dashboard reads a published copy, never the warehouse (pipelines.publish)
            from .publish import publish
            publish(cfg, con)
            return result
        finally:
            con.close()


# --------------------------------------------------------------------------- data tests

def data_tests() -> dict[str, str]:
    """sql/tests/assert_*.sql by name: queries that must return zero rows."""
    folder = warehouse.SQL_DIR / "tests"
    return {p.stem: p.read_text(encoding="utf-8").strip().rstrip(";")
            for p in sorted(folder.glob("assert_*.sql"))}


def data_test_failures(con: duckdb.DuckDBPyConnection, k_min: int,
                       limit: int = 20) -> dict[str, list[tuple]]:
    """Run every data test; return the failing ones with up to `limit` offending rows."""
    con.execute("set variable k_min = ?::integer", [k_min])
    failures = {}
    for name, sql in data_tests().items():
        rows = con.execute(f"select * from (\n{sql}\n) limit {int(limit)}").fetchall()
        if rows:
            failures[name] = rows
    return failures


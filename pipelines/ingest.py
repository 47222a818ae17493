"""Ingest: one source log into the RAW and DETAIL tiers, all or nothing.

An ingest run has three steps per file, so that the expensive middle one can run on
several files at once (threads, or Dask workers on other processes) while the warehouse
is only ever written by one connection, in a fixed order:

 1. plan (warehouse, in order): recognise a file whose bytes are already in the ledger or
    equal to an earlier file of this run -> "already ingested", nothing read; find what of
    it is new (pipelines.sources: a grown, rotated or recompressed log continues the content
    of earlier pieces, whose prefix is skipped) and its format ('auto': the earlier piece's,
    else pipelines.detect); reserve a file_id and write raw/.staging/F/plan.json (path,
    format, hashes, the content range to read; no content);
 2. stage (no warehouse; any process): read the file's new lines in chunks of whole lines
    (pipelines.lines) and, per chunk, in a private in-memory DuckDB: parse every line
    (pipelines.parse) into an Arrow table, enrich the distinct clients, agents, referrer
    hosts and address-bearing texts (pipelines.enrich), then
      - COPY parsed rows inside the RAW window to raw/.staging/F/date=D/    (full data)
      - COPY rejected lines with their reason to .staging/F/rejects/date=AS_OF/
      - COPY the anonymised rows to .staging/F/detail/date=D/             (DETAIL)
    (three chunks at once, each step on its own cursor and thread: one is parsed while
    the one before is enriched, counted and rejected and the one before that is written,
    its RAW and its DETAIL files by two threads)
    and write .staging/F/manifest.json (counts and content hashes). Memory is bounded by
    the chunk size: what a chunk creates is dropped once it is written;
 3. commit (warehouse, in plan order): a file whose decompressed content is already in the
    ledger (a rotated, recompressed copy) is dropped; otherwise its DETAIL files are moved
    into detail/ and ONE transaction lists them in `detail_files` (pipelines.detail: only
    listed files are DETAIL) and writes its ledger row in `ingested_files`; then the staged
    RAW files are promoted (pipelines.raw).
Serial ingest (`ingest_paths`, the CLI) and the concurrent flow run the same three steps,
so they produce the same warehouse. A crash before a commit leaves only staging, which the
next run discards; a crash after it leaves staging that the next run promotes.

Every file reconciles: lines_read = lines_parsed + lines_rejected (a CHECK constraint).
Results and errors carry counts, days, paths and line numbers only, never log content:
they travel through Prefect's database. An unexpected error while processing lines is
re-raised as an IngestError naming the file and the line range, never the original
message (a third-party parser may quote the line it choked on).
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import glob
import itertools
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import anonymize, detail, detect, enrich, lines, raw, retention, sources, warehouse
from .config import Config
from .errors import (
    IngestError,
    InputError,
    SourceReadError,
    WeblogError,
    stop_if_interrupted,
    storage_error,
    writing,
)
from .formats import PRESETS, get_format
from .geo import GeoLookup
from .lock import data_dir_lock
from .parse import LogFormat, parse_sql, sql_str
from .rdns import ReverseDNS, open_reverse_dns

log = logging.getLogger("weblog.ingest")

DIAGNOSE_PER_CHUNK = 200  # detailed reject reasons computed in Python per chunk
DETAIL_DAYS_PER_SCAN = 3  # a chunk spanning more days is materialised once, then split
STDIN = "<stdin>"
ADDRESS_HINT_RE = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"


@dataclass
class IngestResult:
    """What one ingest did: counts, days and names only (safe for Prefect and logs)."""

    path: str
    status: str  # ingested | already ingested | no new lines | failed
    file_id: int | None = None
    lines_read: int = 0
    lines_parsed: int = 0
    lines_rejected: int = 0
    lines_too_old: int = 0
    lines_bad_client: int = 0
    days: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    duplicate_of: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    format: str | None = None  # the format the lines were read with ('auto' resolved)
    content_start: int = 0  # > 0: a growing or rotated file, read from here on
    error: str | None = None  # why it failed (a WeblogError message: names, never content)

    @property
    def reconciles(self) -> bool:
        return self.lines_read == self.lines_parsed + self.lines_rejected

    def to_dict(self) -> dict:
        return asdict(self)


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Files named by paths and globs ('-' is stdin); one clear error for a miss."""
    out: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            out.append("-")
            continue
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        files = [m for m in matches if os.path.isfile(m)]
        if not files:
            if matches:
                raise InputError(f"{pattern} is not a file.")
            raise InputError(f"No such file: {pattern}.")
        # oldest first, so rotated sets (access.log.3.gz ... access.log) go in time order
        files.sort(key=lambda p: (os.stat(p).st_mtime, p))
        out.extend(f for f in files if f not in out)
    return out


def open_geo(cfg: Config) -> GeoLookup | None:
    if not (cfg.country_db or cfg.city_db or cfg.asn_db):
        return None
    return GeoLookup(cfg.country_db, cfg.city_db, cfg.asn_db)


def committed_file_ids(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {fid for (fid,) in con.execute("select file_id from ingested_files").fetchall()}


def recover(con: duckdb.DuckDBPyConnection, data_dir: Path) -> dict[str, list[int]]:
    """Finish or discard what an interrupted ingest left in RAW staging."""
    done = raw.recover(data_dir, committed_file_ids(con))
    swept = detail.sweep(con, data_dir)
    if done["promoted"] or done["discarded"] or swept:
        log.info("recovered interrupted runs: promoted %s, discarded %s, %d DETAIL file(s) "
                 "no transaction listed deleted", done["promoted"], done["discarded"], len(swept))
    return done


# --------------------------------------------------------------------------- SQL pieces

def _path_expr(query_keep: tuple[str, ...]) -> str:
    """SQL: the DETAIL path of `url` (fragment dropped, query values dropped except
    `query_keep`). Most URLs have neither '?' nor '#' and are their own path: CASE
    evaluates the splitting only for the others (it took ~15% of the parse before)."""
    return (f"CASE WHEN NOT contains(url, '?') AND NOT contains(url, '#') THEN url "
            f"ELSE {_split_path_expr(query_keep)} END")


def _split_path_expr(query_keep: tuple[str, ...]) -> str:
    base = "split_part(split_part(url, '#', 1), '?', 1)"
    if not query_keep:
        return base
    keep = ", ".join(sql_str(k) for k in query_keep)
    query = "split_part(split_part(url, '#', 1), '?', 2)"
    kept = (f"array_to_string(list_filter(string_split({query}, '&'), "
            f"lambda q: split_part(q, '=', 1) IN ({keep})), '&')")
    return f"{base} || coalesce('?' || nullif({kept}, ''), '')"


def _staged_sql(fmt: LogFormat, cfg: Config, as_of: dt.date, presplit: bool = False) -> str:
    """Parse + local day/hour + future check + DETAIL path, over the chunk relation."""
    tz = sql_str(cfg.timezone)
    # lines stamped after the end of the as-of day (+1 day of slack for clock skew) are
    # forged or broken: kept as rejects so they cannot pin RAW data far into the future
    horizon = dt.datetime.combine(as_of + dt.timedelta(days=2), dt.time())
    future = f"timezone('UTC', timezone({tz}, TIMESTAMP '{horizon.isoformat(sep=' ')}'))"
    # the site's wall time; for a site in UTC that is `ts` itself (the ICU conversion per
    # row cost 0.15 CPU-s per 1M lines)
    local = "ts" if cfg.timezone == "UTC" else f"timezone({tz}, CAST(ts AS TIMESTAMPTZ))"
    return f"""
SELECT
    * EXCLUDE (reject, local_ts),
    CASE WHEN reject IS NULL AND ts >= {future} THEN 'timestamp in the future'
         ELSE reject END AS reject,
    CAST(local_ts AS DATE) AS day,
    CAST(hour(local_ts) AS TINYINT) AS hour
FROM (
    SELECT *,
        {local} AS local_ts,
        CASE WHEN url IS NOT NULL THEN {_path_expr(cfg.query_keep)} END AS path
    FROM ({parse_sql(fmt, "chunk_lines", cfg.timezone, presplit)})
)
"""


RAW_COLUMNS = """
    day, ts, p.vhost, p.client, c.address AS client_address,
    c.hostname AS client_hostname, p.forwarded_for, remote_user, method, url, protocol,
    request, status, bytes, referrer, user_agent, time_served_ms,
    {file_id}::INTEGER AS source_file_id, line_no
"""

DETAIL_SELECT = """
SELECT
    ts, day, hour,
    coalesce(mv.masked, p.vhost, {default_vhost}) AS vhost,
    c.client_net, c.ip_version, c.client_domain,
    coalesce(mm.masked, p.method) AS method, coalesce(mp.masked, p.path) AS path,
    coalesce(mq.masked, p.protocol) AS protocol, status, bytes,
    r.referrer_domain,
    a.browser, a.browser_major, a.os, a.device, coalesce(a.is_bot, false) AS is_bot, a.bot_name,
    c.country, c.city, c.asn, c.as_org,
    time_served_ms,
    {file_id}::INTEGER AS source_file_id, line_no,
    CASE WHEN {internal} THEN r.referrer_path END AS referrer_path
FROM {parsed} p
LEFT JOIN enr_clients_{k} c ON c.client IS NOT DISTINCT FROM p.client
    AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
LEFT JOIN enr_agents_{k} a ON a.user_agent IS NOT DISTINCT FROM p.user_agent
LEFT JOIN enr_referrers_{k} r ON r.referrer = p.referrer
LEFT JOIN enr_texts_{k} mp ON mp.original = p.path
LEFT JOIN enr_texts_{k} mv ON mv.original = p.vhost
LEFT JOIN enr_texts_{k} mm ON mm.original = p.method
LEFT JOIN enr_texts_{k} mq ON mq.original = p.protocol
WHERE p.reject IS NULL
"""


def _internal_referrer(site_domains: tuple[str, ...], vhost_expr: str) -> str:
    """SQL: the referrer's registered domain is the site's (stats.site_domains, or a domain
    of which the request's vhost is a sub-domain). Same rule as pipelines.aggregate."""
    dom = "r.referrer_domain"
    tests = [f"lower({vhost_expr}) = {dom}", f"ends_with(lower({vhost_expr}), '.' || {dom})"]
    for site in site_domains:
        s = site.strip().lower().rstrip(".")
        if s:
            tests += [f"{dom} = {sql_str(s)}", f"ends_with({dom}, {sql_str('.' + s)})"]
    return f"({dom} IS NOT NULL AND ({' OR '.join(tests)}))"


# --------------------------------------------------------------------------- one chunk

@dataclass
class _Totals:
    lines: int = 0
    parsed: int = 0
    rejected: int = 0
    too_old: int = 0
    bad_client: int = 0
    first_ts: dt.datetime | None = None
    last_ts: dt.datetime | None = None
    days: set = field(default_factory=set)
    reasons: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the wall time of a block to timings[stage] (the benchmark prints them)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def _distinct(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    return [v for (v,) in con.execute(sql).fetchall()]


class _Enrichment:
    """One enrichment table of a file, kept in the stage's DuckDB and grown chunk by chunk:
    only values no earlier chunk had go to Python (pipelines.enrich), so a client, agent or
    referrer is classified once per file and repeats never cross into Python.

    Each chunk joins its own slice, `NAME_K` (the rows of its distinct values): a join
    builds its hash table on the slice, not on the whole file's values, which made the
    three joins of a chunk grow with the file (RAW writes took 2.3 s per 1M lines at 5M
    lines instead of 1.3)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, keys: tuple[str, ...],
                 build: Callable[[list], Any]) -> None:
        self.con, self.name, self.keys, self.build = con, name, keys, build
        con.register("enr_new", build([]))
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM enr_new")
        con.unregister("enr_new")

    def add(self, values_sql: str, k: int) -> None:
        """Classify the values of `values_sql` (columns = keys) that the table lacks; keep
        the rows of all its values in the slice `NAME_K` (dropped by `drop_slice`)."""
        on = " AND ".join(f"e.{key} IS NOT DISTINCT FROM v.{key}" for key in self.keys)
        values, piece = f"{self.name}_values_{k}", f"{self.name}_{k}"
        self.con.execute(f"CREATE OR REPLACE TABLE {values} AS "
                         f"SELECT DISTINCT * FROM ({values_sql})")
        # the hash tables are built on the chunk's values (the right side), never the file's
        self.con.execute(f"CREATE OR REPLACE TABLE {piece} AS SELECT e.* FROM {self.name} e "
                         f"SEMI JOIN {values} v ON {on}")
        rows = self.con.execute(f"SELECT v.* FROM {values} v "
                                f"ANTI JOIN {piece} e ON {on}").fetchall()
        self.con.execute(f"DROP TABLE {values}")
        if rows:
            new = [r[0] for r in rows] if len(self.keys) == 1 else [tuple(r) for r in rows]
            self.con.register("enr_new", self.build(new))
            self.con.execute(f"INSERT INTO {self.name} SELECT * FROM enr_new")
            self.con.execute(f"INSERT INTO {piece} SELECT * FROM enr_new")
            self.con.unregister("enr_new")

    def drop_slice(self, con: duckdb.DuckDBPyConnection, k: int) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.name}_{k}")


@dataclass
class _Enrichments:
    """The enrichment tables of one file (enr_clients, enr_agents, enr_referrers, enr_texts)."""

    clients: _Enrichment
    agents: _Enrichment
    referrers: _Enrichment
    texts: _Enrichment

    def __iter__(self) -> Iterator[_Enrichment]:
        return iter((self.clients, self.agents, self.referrers, self.texts))

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, cfg: Config, geo: GeoLookup | None,
             rdns: ReverseDNS | None = None) -> _Enrichments:
        p4, p6 = cfg.ipv4_prefix, cfg.ipv6_prefix
        return cls(
            _Enrichment(con, "enr_clients", ("client", "forwarded_for"),
                        lambda v: enrich.clients_table(v, geo, p4, p6, cfg.trusted_proxies, rdns)),
            _Enrichment(con, "enr_agents", ("user_agent",),
                        lambda v: enrich.agents_table(v, p4, p6)),
            _Enrichment(con, "enr_referrers", ("referrer",),
                        lambda v: enrich.referrers_table(v, p4, p6)),
            _Enrichment(con, "enr_texts", ("original",),
                        lambda v: enrich.masked_texts_table(v, p4, p6)))


def _parse_chunk(work: duckdb.DuckDBPyConnection, chunk: lines.Chunk, k: int, *,
                 fmt: LogFormat, cfg: Config, as_of: dt.date, totals: _Totals) -> None:
    """Parse one chunk into the table `parsed_K` of the stage's private in-memory DuckDB
    (on the stage's main thread, with the DuckDB threads of `stage_threads`). The fields
    of the common formats are split by compiled code first (`LogFormat.presplit`)."""
    with totals.timed("parse"):
        table = fmt.presplit(chunk.table)
        work.register("chunk_lines", chunk.table if table is None else table)
    try:
        with totals.timed("parse"):
            work.execute(f"CREATE OR REPLACE TABLE parsed_{k} AS "
                         + _staged_sql(fmt, cfg, as_of, presplit=table is not None))
    finally:
        work.unregister("chunk_lines")


def _classify_chunk(work: duckdb.DuckDBPyConnection, chunk: lines.Chunk, k: int, *,
                    fmt: LogFormat, cfg: Config, file_id: int, as_of: dt.date,
                    window: dt.date, default_vhost: str, enrichments: _Enrichments,
                    stage: Path, totals: _Totals,
                    ) -> tuple[Callable[..., None], Callable[..., None]]:
    """Enrich, count and reject one parsed chunk on `work` (the cursor of the enrichment
    tables); return the chunk's two writes, RAW days and DETAIL. `stage_file` runs the
    steps of consecutive chunks at once, each on its own cursor and thread: chunk K+2 is
    parsed while K+1 is classified and K written, RAW and DETAIL by two threads (DuckDB
    releases the GIL; the Python part of enrichment and the Parquet writers run beside
    the parse). On 2 cores, writing RAW and DETAIL side by side took a 1M-line stage from
    3.4 to 3.2 s: the write had become the longest step once the parse was compiled.

    What a chunk creates (its `parsed_K` table) is dropped by its DETAIL write once its
    RAW write is done: memory stays bounded by three chunks and the file's distinct values.
    """
    parsed = f"parsed_{k}"
    # distinct values new to this file -> enrichment tables
    with totals.timed("enrich"):
        ok = f"FROM {parsed} WHERE reject IS NULL"
        # the client of each distinct (client, forwarded-for chain): trusted proxies, rDNS
        enrichments.clients.add(f"SELECT client, forwarded_for {ok}", k)
        enrichments.agents.add(f"SELECT user_agent {ok}", k)
        # referrer host, domain and path per distinct referrer (few), not per row
        enrichments.referrers.add(f"SELECT referrer {ok} AND referrer IS NOT NULL", k)
        # the texts that may hold an address literal; a junk request line can put
        # anything in method and protocol. One scan for the distinct combinations
        # (few: paths x methods), then their values: a DISTINCT per column, four
        # scans of the chunk, took 2.6x as long (0.27 against 0.10 CPU-s per 1M lines)
        enrichments.texts.add(f"""
            WITH combos AS (SELECT DISTINCT path, vhost, method, protocol {ok})
            SELECT DISTINCT v AS original FROM (
                SELECT path AS v FROM combos
                UNION ALL SELECT vhost FROM combos
                UNION ALL SELECT method FROM combos
                UNION ALL SELECT protocol FROM combos)
            WHERE v IS NOT NULL AND regexp_matches(v, {sql_str(ADDRESS_HINT_RE)})""", k)

    # counts
    with totals.timed("count"):
        (n, n_ok, n_old, n_bad, t0, t1, days) = work.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE reject IS NULL),
                   count(*) FILTER (WHERE reject IS NULL AND day < DATE '{window}'),
                   count(*) FILTER (WHERE reject IS NULL
                                    AND c.kind NOT IN ('ipv4', 'ipv6', 'hostname')),
                   min(ts) FILTER (WHERE reject IS NULL), max(ts) FILTER (WHERE reject IS NULL),
                   list(DISTINCT day) FILTER (WHERE reject IS NULL)
            FROM {parsed} p LEFT JOIN enr_clients_{k} c
                ON c.client IS NOT DISTINCT FROM p.client
                AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
        """).fetchall()[0]
    totals.bad_client += n_bad
    totals.lines += n
    totals.parsed += n_ok
    totals.rejected += n - n_ok
    totals.too_old += n_old
    totals.days.update(days or [])
    if t0 is not None:
        totals.first_ts = t0 if totals.first_ts is None else min(totals.first_ts, t0)
        totals.last_ts = t1 if totals.last_ts is None else max(totals.last_ts, t1)

    # rejects, with a precise reason for the first few that do not match the format
    if n - n_ok:
        with totals.timed("rejects"):
            _write_rejects(work, parsed, fmt, file_id, k, as_of, stage, totals,
                           chunk.table)

    raw_days = sorted(d for d in (days or []) if d >= window)

    def write_raw(cur: duckdb.DuckDBPyConnection) -> None:
        # RAW: rows inside the window, one file per day. A chunk's rows nearly always fall
        # on one or two days: a filtered COPY per day costs ~40% of DuckDB's PARTITION_BY
        for day in raw_days:
            with totals.timed("raw_write"):
                folder = raw.ensure_dir(stage / raw.partition_name(day))
                target = folder / f"{file_id}-{k}.parquet"
                cur.execute(f"""
                    COPY (SELECT {RAW_COLUMNS.format(file_id=file_id)}
                          FROM {parsed} p LEFT JOIN enr_clients_{k} c
                              ON c.client IS NOT DISTINCT FROM p.client
                              AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
                          WHERE p.reject IS NULL AND p.day = DATE '{day}')
                    TO {sql_str(target.as_posix())} ({raw.PARQUET_OPTIONS})""")

    detail_days = sorted(days or [])

    def write_detail(cur: duckdb.DuckDBPyConnection,
                     raw_written: concurrent.futures.Future) -> None:
        # DETAIL: every parsed row, one file per day, in the files the commit moves into
        # detail/ (pipelines.detail). Few days: a filtered COPY per day; many (a sparse log
        # whose chunk spans weeks): the rows once into a table, then a COPY per day of it
        with totals.timed("detail_stage"):
            vhost_expr = f"coalesce(mv.masked, p.vhost, {sql_str(default_vhost)})"
            select = DETAIL_SELECT.format(
                parsed=parsed, k=k, file_id=file_id, default_vhost=sql_str(default_vhost),
                internal=_internal_referrer(cfg.site_domains, vhost_expr))
            source = f"({select})"
            if len(detail_days) > DETAIL_DAYS_PER_SCAN:
                cur.execute(f"CREATE TABLE detail_{k} AS {select}")
                source = f"detail_{k}"
            for day in detail_days:
                folder = raw.ensure_dir(stage / raw.DETAIL_STAGE / raw.partition_name(day))
                target = folder / f"{file_id}-{k}.parquet"
                cur.execute(f"COPY (SELECT * FROM {source} WHERE day = DATE '{day}') "
                            f"TO {sql_str(target.as_posix())} ({raw.PARQUET_OPTIONS})")
            if len(detail_days) > DETAIL_DAYS_PER_SCAN:
                cur.execute(f"DROP TABLE detail_{k}")
        # the RAW writes read the chunk too: drop it once they are done (their error, if
        # any, is raised by the RAW writer)
        concurrent.futures.wait([raw_written])
        cur.execute(f"DROP TABLE {parsed}")
        for enrichment in enrichments:
            enrichment.drop_slice(cur, k)

    return write_raw, write_detail


def _write_rejects(con: duckdb.DuckDBPyConnection, parsed: str, fmt: LogFormat, file_id: int,
                   k: int, as_of: dt.date, stage: Path, totals: _Totals,
                   chunk_lines: pa.Table) -> None:
    """The chunk's rejected lines with their reasons into the staged rejects file; the first
    DIAGNOSE_PER_CHUNK lines that do not match the format get a precise reason. The lines
    are taken from the chunk's Arrow table by line number: joining the whole chunk to its
    few rejects, twice, cost 0.24 CPU-s per 1M lines (0.1% of them rejected)."""
    rejected = con.sql(f"SELECT line_no, reject FROM {parsed} WHERE reject IS NOT NULL "
                       "ORDER BY line_no").to_arrow_table()
    line_no = rejected.column("line_no").combine_chunks()
    # a chunk numbers its lines consecutively (lines.Chunk): row = line_no - the first's
    where = pc.subtract(line_no, chunk_lines.column("line_no")[0].as_py())
    texts = chunk_lines.column("line").take(where).combine_chunks()
    reasons = rejected.column("reject").to_pylist()
    generic = "does not match format " + fmt.name
    diagnosed = 0
    for i, reason in enumerate(reasons):
        if diagnosed == DIAGNOSE_PER_CHUNK:
            break
        if reason == generic:
            reasons[i] = fmt.diagnose(texts[i].as_py())
            diagnosed += 1
    for reason, count in collections.Counter(reasons).items():
        totals.reasons[reason] = totals.reasons.get(reason, 0) + count
    con.register("chunk_rejects", pa.table({
        "line_no": line_no, "reason": pa.array(reasons, pa.string()), "line": texts}))
    folder = raw.ensure_dir(stage / "rejects" / raw.partition_name(as_of))
    target = folder / f"{file_id}-{k}.parquet"
    try:
        con.execute(f"""
            COPY (SELECT DATE '{as_of}' AS day, {file_id}::INTEGER AS source_file_id, line_no,
                         reason, rtrim(line, chr(10) || chr(13)) AS line
                  FROM chunk_rejects ORDER BY line_no)
            TO {sql_str(target.as_posix())} ({raw.PARQUET_OPTIONS})""")
    finally:
        con.unregister("chunk_rejects")


# --------------------------------------------------------------------------- 1. plan

PLAN_NAME = "plan.json"
MANIFEST_NAME = "manifest.json"
Job = tuple[str, LogFormat, "str | None"]  # (file or '-', format, vhost)


@dataclass
class PlannedFile:
    """One file of a run as decided before reading it: names, hashes, no content."""

    path: str  # the file to read (stdin: its spool copy)
    shown: str  # the name recorded in the ledger and the results
    format: str  # spec for get_format: a preset name or 'kind:<format string>'
    vhost: str | None
    sha256: str
    size: int
    device: int | None
    inode: int | None
    file_id: int | None = None  # None: nothing to read, see status and duplicate_of
    duplicate_of: str | None = None
    status: str | None = None  # why nothing is read: 'already ingested' | 'no new lines' | 'failed'
    error: str | None = None  # status 'failed': the reason (names and counts only)
    skip_bytes: int = 0  # content already ingested by earlier pieces (pipelines.sources)
    first_line_no: int = 1
    complete_only: bool = False  # a last line without its newline waits for the next run
    previous: str | None = None  # the earlier piece this content continues

    def to_dict(self) -> dict:
        return asdict(self)


def format_spec(fmt: LogFormat) -> str:
    """The name get_format() turns back into `fmt` (in another process too)."""
    if fmt.name in PRESETS or fmt.name == "auto":
        return fmt.name
    kind = fmt.name.split("-", 1)[0]  # 'apache-custom', 'nginx-custom', 'w3c-custom', ...
    return fmt.source if fmt.source.startswith(kind + ":") else f"{kind}:{fmt.source}"


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with raw.private_umask(), writing(tmp):
        tmp.write_text(json.dumps(doc, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IngestError(f"The {what} of staged ingest {path.parent.name} is missing or "
                          "damaged; the next run starts that file again.") from None


def _is_plain(path: Path) -> bool:
    with open(path, "rb") as handle:
        return lines.sniff_compression(handle.read(lines.SNIFF_BYTES)) is None


def _plan_one(con: duckdb.DuckDBPyConnection, cfg: Config, path: Path, shown: str,
              fmt: LogFormat, vhost: str | None, seen: dict[str, str], *,
              hash_now: bool = True) -> PlannedFile:
    """Plan one file. `hash_now=False` (no ledger row and no other file of the run has its
    size, so it cannot hold the same bytes): a plain file is hashed by its stage, which
    reads every byte of it anyway (`StagedFile.sha256`), instead of here (1 s per GB)."""
    try:
        ident = lines.file_identity(path)
        digest = lines.file_sha256(path) if hash_now or not _is_plain(path) else ""
    except OSError as exc:
        raise SourceReadError(f"Cannot read {shown}: {type(exc).__name__}: "
                              f"{_safe(exc)}.") from None
    earlier = (_already(con, "sha256", digest) or seen.get(digest)) if digest else None
    # the configured vhost goes to DETAIL and the ledger too: no address literal in it either
    vhost = anonymize.mask_addresses(vhost, cfg.ipv4_prefix, cfg.ipv6_prefix) if vhost else None
    planned = PlannedFile(str(path), shown, format_spec(fmt), vhost, digest, ident["size"],
                          ident["device"], ident["inode"], duplicate_of=earlier,
                          status="already ingested" if earlier else None)
    if earlier is None:
        # growing and rotated files: skip what earlier pieces of this content read
        try:
            piece = sources.plan(con, path, finished=shown == STDIN)
            resolved = None if piece.nothing_new else \
                detect.resolve(fmt, path, shown, piece.previous_format)
        except (OSError, EOFError) as exc:
            raise SourceReadError(f"Cannot read {shown}: {type(exc).__name__}: "
                                  f"{_safe(exc)}.") from None
        if piece.nothing_new:
            planned.status, planned.duplicate_of = "already ingested", piece.previous
            return planned
        if resolved is None:
            planned.status = "no new lines"
            return planned
        planned.format = format_spec(resolved)
        planned.skip_bytes, planned.first_line_no = piece.skip_bytes, piece.first_line_no
        planned.complete_only, planned.previous = piece.complete_only, piece.previous

        if digest:
            seen[digest] = shown
        planned.file_id = con.execute("SELECT nextval('ingested_files_seq')").fetchall()[0][0]
        stage = raw.ensure_dir(raw.staging_dir(cfg.data_dir, planned.file_id))
        _write_json(stage / PLAN_NAME, planned.to_dict())
    return planned


def plan_files(con: duckdb.DuckDBPyConnection, cfg: Config,
               jobs: Iterable[Job]) -> list[PlannedFile]:
    """Plan a run in order (caller holds the data-dir lock): skip known bytes, reserve file ids.

    A file with the same bytes as an earlier file of the same run is skipped too, so the
    plan does not depend on which staged file commits first.
    A file that cannot be planned (unreadable, corrupt, format not recognised) is planned as
    'failed' with its reason; the other files go on.
    """
    seen: dict[str, str] = {}
    planned = []
    jobs = [(_spool_stdin(cfg.data_dir) if name == "-" else Path(name), name, fmt, vhost)
            for name, fmt, vhost in jobs]
    sizes = [_size(path) for path, *_ in jobs]
    shared = _shared_sizes(con, sizes)
    for (path, name, fmt, vhost), size in zip(jobs, sizes):
        shown = STDIN if name == "-" else shown_path(cfg, name)
        try:
            planned.append(_plan_one(con, cfg, path, shown, fmt, vhost, seen,
                                     hash_now=size is None or size in shared))
        except (WeblogError, OSError) as exc:
            full = storage_error(exc) if isinstance(exc, OSError) else None
            if isinstance(exc, OSError) and full is None:
                raise
            error = str(_stopped(shown, full)) if full else str(exc)
            planned.append(PlannedFile(str(path), shown, format_spec(fmt), vhost, "", 0, None,
                                       None, status="failed", error=error))
    return planned


def shown_path(cfg: Config, name: str | Path) -> str:
    """A source path as the ledger records it and results show it: absolute, with address
    literals masked to their network (invariant 4: a log named after a client, such as
    access-203.0.113.45.log, must not carry the address out of RAW). Files are opened by
    their real path; the ledger matches content by hashes, never by name."""
    return anonymize.mask_addresses(str(Path(name).absolute()), cfg.ipv4_prefix,
                                    cfg.ipv6_prefix)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None  # _plan_one reports it


def _shared_sizes(con: duckdb.DuckDBPyConnection, sizes: list[int | None]) -> set[int]:
    """Sizes that two files of the run, or a file of the run and a ledger row, share: only
    such files can hold the same bytes, so only they are hashed before staging."""
    counts = collections.Counter(s for s in sizes if s is not None)
    shared = {s for s, n in counts.items() if n > 1}
    if counts:
        shared |= {s for (s,) in con.execute(
            "SELECT DISTINCT size FROM ingested_files WHERE list_contains(?, size)",
            [sorted(counts)]).fetchall()}
    return shared


def plan_ingest(cfg: Config, jobs: Iterable[Job]) -> list[PlannedFile]:
    """Open the warehouse under the data-dir lock, finish interrupted ingests, plan `jobs`."""
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="ingest"):
        raw.prepare(cfg.data_dir)
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        try:
            recover(con, cfg.data_dir)
            return plan_files(con, cfg, jobs)
        finally:
            con.close()


def skipped_result(planned: PlannedFile) -> IngestResult:
    """The result of a planned file that is not read (ingested before, or nothing new)."""
    return IngestResult(planned.shown, planned.status or "already ingested",
                        duplicate_of=planned.duplicate_of, error=planned.error)


# --------------------------------------------------------------------------- 2. stage

@dataclass
class StagedFile:
    """What staging one file found: counts and content hashes (manifest.json), no content."""

    file_id: int
    compression: str | None
    content_sha256: str
    head_sha256: str
    content_bytes: int
    lines_read: int
    lines_parsed: int
    lines_rejected: int
    lines_too_old: int
    lines_bad_client: int
    first_ts: str | None  # UTC, ISO format
    last_ts: str | None
    as_of: str
    days: list[str]
    reject_reasons: dict[str, int]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    # the file's bytes as the stage read them, when the plan left the hashing to it
    sha256: str = ""
    size: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _file_hash(planned: PlannedFile, stats: lines.ReadStats) -> tuple[str, int]:
    """(sha256, size) of the file's bytes for the ledger when the plan did not hash it.
    A plain file was read from its first byte to its end, every byte hashed: its content
    hash is its file hash. (A file compressed since it was planned is hashed again.)"""
    if planned.sha256:
        return "", 0
    if stats.compression is None:
        return stats.content_sha256, stats.content_bytes + stats.pending_bytes
    path = Path(planned.path)
    return lines.file_sha256(path), path.stat().st_size


class _Worker:
    """One step of a chunk at a time on a cursor of the stage's DuckDB, in a thread.

    `submit` first waits for the previous job (re-raising its error) and returns the new
    job's future, so at most one job runs while the caller goes on, and jobs run in order;
    `failed_lines` is the line range of the job that failed. `close` waits for what runs (on any exit: the connection must
    not close under a running query) without raising, after an error has been raised.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, spill: Path, name: str) -> None:
        self.cur = con.cursor()
        warehouse.configure(self.cur, spill)
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self.pending: concurrent.futures.Future | None = None
        self.failed_lines: tuple[int, int] | None = None

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def submit(self, job: Callable[[duckdb.DuckDBPyConnection], None],
               lines_at: tuple[int, int]) -> concurrent.futures.Future:
        self.wait()

        def run(cur: duckdb.DuckDBPyConnection) -> None:
            try:
                job(cur)
            except BaseException:
                self.failed_lines = self.failed_lines or lines_at
                raise

        self.pending = self.pool.submit(run, self.cur)
        return self.pending

    def close(self) -> None:
        if self.pending is not None:
            concurrent.futures.wait([self.pending])
            self.pending = None
        self.pool.shutdown(wait=True)
        self.cur.close()


def _stage_connection(data_dir: Path, file_id: int) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A private in-memory DuckDB; what it spills holds full addresses, so it spills in raw/."""
    spill = raw.ensure_dir(raw.temp_root(data_dir) / f"stage-{file_id}")
    con = duckdb.connect()
    warehouse.configure(con, spill)
    con.execute(f"SET threads = {stage_threads()}")
    return con, spill


def stage_threads(cores: int | None = None) -> int:
    """DuckDB threads of a stage: half the cores. Its three steps (parse, classify, write)
    already run side by side on threads of their own; on 2 cores, DuckDB parallelism on top
    made a 5M-line stage 10% slower (19.5 s against 17.6 s with one thread each)."""
    cores = cores or os.cpu_count() or 2
    return max(1, cores // 2)


def _clear_stage(stage: Path) -> None:
    """Remove what an earlier attempt staged (a retry starts from scratch), keep the plan."""
    for child in stage.iterdir():
        if child.name == PLAN_NAME:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def stage_file(cfg: Config, file_id: int, *, as_of: dt.date, geo: GeoLookup | None = None,
               progress: Callable[[int], None] | None = None,
               rdns: ReverseDNS | None = None) -> StagedFile:
    """Read, parse and enrich one planned file into raw/.staging/F (no warehouse involved).

    Safe to run in several threads or processes at once, each on its own file id.
    """
    started = time.perf_counter()
    stage = raw.staging_dir(cfg.data_dir, file_id)
    planned = PlannedFile(**_read_json(stage / PLAN_NAME, "plan"))
    _clear_stage(stage)
    fmt = get_format(planned.format)
    window = retention.raw_window_start(as_of, cfg.raw_days)
    totals = _Totals()
    stats = lines.ReadStats()
    own_geo = geo is None
    geo = open_geo(cfg) if own_geo else geo
    own_rdns = rdns is None
    rdns = open_reverse_dns(cfg) if own_rdns else rdns
    con, spill = _stage_connection(cfg.data_dir, file_id)
    lines_at = (0, 0)
    workers: tuple[_Worker, ...] = ()
    try:
        # a stateful format (W3C headers) needs the state of the lines skipped
        carry = sources.carry_before(Path(planned.path), fmt, planned.first_line_no)
        with raw.private_umask(), open(planned.path, "rb") as handle:
            stream, stats.compression = lines.open_decompressed(handle)
            chunks = lines.prefetch(lines.iter_chunks(
                stream, stats, chunk_bytes=lines.chunk_size(
                    os.fstat(handle.fileno()).st_size, stats.compression is not None),
                skip_bytes=planned.skip_bytes, first_line_no=planned.first_line_no,
                complete_only=planned.complete_only))
            # three chunks at once: K+2 parsed here, K+1 classified and K written in threads
            workers = raw_writer, detail_writer, classifier = (
                _Worker(con, spill, "weblog-raw"), _Worker(con, spill, "weblog-detail"),
                _Worker(con, spill, "weblog-classify"))
            enrichments = _Enrichments.open(classifier.cur, cfg, geo, rdns)
            # closed in reverse: the classifier (which submits writes) before the writers
            with contextlib.closing(chunks), contextlib.closing(raw_writer), \
                    contextlib.closing(detail_writer), contextlib.closing(classifier):
                for k in itertools.count():
                    with totals.timed("read"):  # what the read-ahead did not hide
                        chunk = next(chunks, None)
                    if chunk is None:
                        break
                    lines_at = (chunk.first_line_no, chunk.first_line_no + chunk.num_lines - 1)
                    bound, carry = fmt.bind(chunk.table, carry)  # W3C: this chunk's headers
                    _parse_chunk(con, chunk, k, fmt=bound, cfg=cfg, as_of=as_of, totals=totals)

                    def classify(cur: duckdb.DuckDBPyConnection, chunk: lines.Chunk = chunk,
                                 k: int = k, bound: LogFormat = bound,
                                 at: tuple[int, int] = lines_at) -> None:
                        writes = _classify_chunk(
                            cur, chunk, k, fmt=bound, cfg=cfg, file_id=file_id, as_of=as_of,
                            window=window, default_vhost=planned.vhost or "default",
                            enrichments=enrichments, stage=stage, totals=totals)
                        write_raw, write_detail = writes
                        # each waits for the previous chunk's; the DETAIL write for this
                        # chunk's RAW write before it drops the chunk
                        raw_done = raw_writer.submit(write_raw, at)
                        detail_writer.submit(functools.partial(write_detail,
                                                               raw_written=raw_done), at)

                    classifier.submit(classify, lines_at)  # waits for the previous chunk's
                    if progress is not None:
                        progress(handle.tell())  # bytes of the file on disk read so far
                classifier.wait()
                raw_writer.wait()
                detail_writer.wait()
    except WeblogError:
        _clear_stage(stage)
        raise
    except (OSError, EOFError) as exc:
        _clear_stage(stage)
        if (full := storage_error(exc)) is not None:
            raise _stopped(planned.shown, full) from None
        # the message names the file and the error class only: never line content; only
        # a system error (errno set) may be transient, a corrupt file stays corrupt
        error = SourceReadError if getattr(exc, "errno", None) is not None else IngestError
        raise error(f"Cannot read {planned.shown}: {type(exc).__name__}: {_safe(exc)}.") from None
    except duckdb.Error as exc:
        _clear_stage(stage)
        if (full := storage_error(exc)) is not None:
            raise _stopped(planned.shown, full) from None
        lines_at = _failed_lines(workers) or lines_at
        raise IngestError(f"Ingest of {planned.shown} failed in the database at lines "
                          f"{lines_at[0]}-{lines_at[1]} ({type(exc).__name__}); nothing of it "
                          "was kept.") from None
    except Exception as exc:
        _clear_stage(stage)
        lines_at = _failed_lines(workers) or lines_at
        # an unexpected error may quote the line it failed on: keep only its class
        raise IngestError(f"Ingest of {planned.shown} failed at lines {lines_at[0]}-"
                          f"{lines_at[1]} ({type(exc).__name__}); nothing of it "
                          "was kept.") from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        if own_geo and geo is not None:
            geo.close()
    staged = StagedFile(
        file_id, stats.compression, stats.content_sha256, stats.head_sha256, stats.content_bytes,
        totals.lines, totals.parsed, totals.rejected, totals.too_old, totals.bad_client,
        _iso(totals.first_ts), _iso(totals.last_ts), as_of.isoformat(),
        sorted(d.isoformat() for d in totals.days), dict(sorted(totals.reasons.items())),
        time.perf_counter() - started, {k: round(v, 4) for k, v in totals.timings.items()})
    try:
        staged.sha256, staged.size = _file_hash(planned, stats)
    except OSError as exc:
        _clear_stage(stage)
        raise SourceReadError(f"Cannot read {planned.shown}: {type(exc).__name__}: "
                              f"{_safe(exc)}.") from None
    try:
        _write_json(stage / MANIFEST_NAME, staged.to_dict())
    except OSError as exc:
        _clear_stage(stage)
        raise _stopped(planned.shown, storage_error(exc) or type(exc).__name__) from None
    return staged


def _failed_lines(workers: tuple[_Worker, ...]) -> tuple[int, int] | None:
    """The line range of the chunk whose classify or write step failed, if one did."""
    return next((w.failed_lines for w in workers if w.failed_lines), None)


class DiskStopped(IngestError):
    """A file's ingest stopped by the disk (full, or a file-size limit)."""


def _stopped(shown: str, why: str) -> IngestError:
    """A file's ingest stopped by the disk (full, or a file-size limit): nothing kept."""
    return DiskStopped(f"Ingest of {shown} stopped: {why}; nothing of it was kept.")


def _close(con: duckdb.DuckDBPyConnection, *, disk_stopped: bool) -> None:
    """Close the warehouse. After the disk stopped a write, without DuckDB's checkpoint on
    close: a checkpoint that the disk stops half-way can leave the file unreadable (seen
    under a file-size limit: blocks past the limit refused, the rest written), while the
    write-ahead log is complete and is applied when the warehouse is next opened."""
    if disk_stopped:
        with contextlib.suppress(duckdb.Error):
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.close()


def _iso(ts: dt.datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


# --------------------------------------------------------------------------- 3. commit

def _already(con: duckdb.DuckDBPyConnection, column: str, digest: str) -> str | None:
    # any piece: a piece's hashes cover the whole file as it was then (its skipped prefix too)
    row = con.execute(f"SELECT path FROM ingested_files WHERE {column} = ? "
                      "ORDER BY file_id LIMIT 1", [digest]).fetchall()
    return row[0][0] if row else None


def commit_file(con: duckdb.DuckDBPyConnection, cfg: Config, file_id: int) -> IngestResult:
    """Commit one staged file (caller holds the data-dir lock; call in plan order)."""
    started = time.perf_counter()
    stage = raw.staging_dir(cfg.data_dir, file_id)
    planned = PlannedFile(**_read_json(stage / PLAN_NAME, "plan"))
    staged = StagedFile(**_read_json(stage / MANIFEST_NAME, "manifest"))
    sha256, size = ((planned.sha256, planned.size) if planned.sha256
                    else (staged.sha256, staged.size))
    earlier = (_already(con, "content_sha256", staged.content_sha256)
               or _already(con, "sha256", sha256))
    if earlier is not None or not staged.lines_read:
        # same lines as an ingested file (rotated or recompressed), or nothing new at all
        raw.discard(cfg.data_dir, file_id)
        if earlier is None and planned.skip_bytes:
            earlier = planned.previous  # only a partial line, or nothing, since then
        return IngestResult(planned.shown, "already ingested" if earlier else "no new lines",
                            duplicate_of=earlier,
                            seconds=staged.seconds + time.perf_counter() - started)
    staged_detail = stage / raw.DETAIL_STAGE
    commit_started = time.perf_counter()
    placed: list[Path] = []
    try:
        # DETAIL files into detail/ first: not DETAIL until the transaction lists them
        placed = detail.place(cfg.data_dir, staged_detail,
                              sorted(staged_detail.glob("date=*/*.parquet")))
        with warehouse.transaction(con):
            registered = detail.register(con, cfg.data_dir, placed)
            if registered != staged.lines_parsed:
                raise IngestError(f"Ingest of {planned.shown} staged {registered} DETAIL rows "
                                  f"for {staged.lines_parsed} parsed lines; nothing of it was "
                                  "kept.")
            con.execute("""
                INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                    ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)""", [
                file_id, planned.shown, planned.vhost, get_format(planned.format).name,
                staged.compression, size, sha256, staged.content_sha256,
                staged.head_sha256, planned.skip_bytes, staged.content_bytes, planned.device,
                planned.inode,
                staged.lines_read, staged.lines_parsed, staged.lines_rejected,
                staged.lines_too_old, staged.lines_bad_client, staged.first_ts, staged.last_ts,
                staged.as_of])
            detail.refresh_view(con, cfg.data_dir)
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):  # a COMMIT that failed has ended it already
            con.execute("ROLLBACK")
        for f in placed:  # never listed: not DETAIL (a crash here leaves them to detail.sweep)
            f.unlink(missing_ok=True)
        raw.discard(cfg.data_dir, file_id)
        if (full := storage_error(exc)) is not None:
            raise _stopped(planned.shown, full) from None
        if isinstance(exc, duckdb.Error):
            raise IngestError(f"Ingest of {planned.shown} failed in the database "
                              f"({type(exc).__name__}); nothing of it was kept.") from None
        raise
    timings = {**staged.timings, "commit": round(time.perf_counter() - commit_started, 4)}
    with_promote = time.perf_counter()
    raw.promote(cfg.data_dir, file_id)  # after the commit: a crash here is finished by recover()
    timings["promote"] = round(time.perf_counter() - with_promote, 4)
    return IngestResult(
        planned.shown, "ingested", file_id, staged.lines_read, staged.lines_parsed,
        staged.lines_rejected, staged.lines_too_old, staged.lines_bad_client, staged.days,
        staged.reject_reasons, None, staged.seconds + time.perf_counter() - started, timings,
        get_format(planned.format).name, planned.skip_bytes)


def commit_ingest(cfg: Config, file_id: int) -> IngestResult:
    """Open the warehouse under the data-dir lock and commit one staged file."""
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="ingest"):
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        try:
            return commit_file(con, cfg, file_id)
        finally:
            con.close()


# --------------------------------------------------------------------------- serial runs

def _ingest_planned(con: duckdb.DuckDBPyConnection, cfg: Config, planned: PlannedFile,
                    as_of: dt.date, geo: GeoLookup | None,
                    progress: Callable[[int], None] | None,
                    rdns: ReverseDNS | None = None) -> IngestResult:
    if planned.file_id is None:
        return skipped_result(planned)
    try:
        stage_file(cfg, planned.file_id, as_of=as_of, geo=geo, progress=progress, rdns=rdns)
    except BaseException:
        raw.discard(cfg.data_dir, planned.file_id)
        raise
    return commit_file(con, cfg, planned.file_id)


def ingest_file(con: duckdb.DuckDBPyConnection, cfg: Config, path: Path, *,
                fmt: LogFormat, vhost: str | None, as_of: dt.date,
                geo: GeoLookup | None, display_path: str | None = None,
                progress: Callable[[int], None] | None = None,
                rdns: ReverseDNS | None = None) -> IngestResult:
    """Plan, stage and commit one file (caller holds the data-dir lock)."""
    shown = display_path or shown_path(cfg, path)
    planned = _plan_one(con, cfg, Path(path), shown, fmt, vhost, {})
    return _ingest_planned(con, cfg, planned, as_of, geo, progress, rdns)


def _safe(exc: BaseException) -> str:
    """An OS error's strerror (no payload); other errors by class only."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "corrupt or truncated data" if isinstance(exc, EOFError) else "read error"


def _spool_stdin(data_dir: Path) -> Path:
    """Copy stdin into raw/.spool (owner-only: it holds addresses) so it can be hashed first."""
    raw.prepare(data_dir)
    target = raw.spool_root(data_dir) / f"stdin-{uuid.uuid4().hex}"
    try:
        with raw.private_umask(), open(target, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 8 << 20)
    except BaseException:
        target.unlink(missing_ok=True)  # a disk that filled up: no partial copy stays
        raise
    return target


def _run_jobs(cfg: Config, jobs: list[Job], as_of: dt.date | None,
              on_result: Callable[[IngestResult], None] | None,
              progress_factory: Callable[[str, int], Callable[[int], None]] | None,
              ) -> list[IngestResult]:
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    results = []
    geo = open_geo(cfg)
    resolver = open_reverse_dns(cfg)  # one per run: each address is looked up once
    try:
        with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="ingest"):
            raw.prepare(cfg.data_dir)
            con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
            planned: list[PlannedFile] = []
            disk_stopped = False
            try:
                recover(con, cfg.data_dir)
                planned = plan_files(con, cfg, jobs)
                for i, item in enumerate(planned):
                    progress = progress_factory(item.shown, item.size) if progress_factory else None
                    try:
                        result = _ingest_planned(con, cfg, item, as_of, geo, progress, resolver)
                    except WeblogError as exc:  # this file failed, nothing of it kept: go on
                        stop_if_interrupted()  # ... unless Ctrl-C is why
                        disk_stopped = disk_stopped or isinstance(exc, DiskStopped)
                        result = IngestResult(item.shown, "failed", error=str(exc))
                    except BaseException:
                        for later in planned[i + 1:]:  # plans never staged
                            if later.file_id is not None:
                                raw.discard(cfg.data_dir, later.file_id)
                        raise
                    results.append(result)
                    _log_result(result)
                    if on_result:
                        on_result(result)
            finally:
                for item in planned:  # stdin spool copies
                    if item.shown == STDIN:
                        Path(item.path).unlink(missing_ok=True)
                _close(con, disk_stopped=disk_stopped)
    finally:
        if geo is not None:
            geo.close()
        if resolver is not None:
            resolver.report()
    return results


def _log_result(r: IngestResult) -> None:
    """One progress line per file (names and counts only)."""
    if r.status == "ingested":
        log.info("%s: ingested %d lines (%d parsed, %d rejected, %d too old for RAW) in %.1f s "
                 "as %s%s", r.path, r.lines_read, r.lines_parsed, r.lines_rejected,
                 r.lines_too_old, r.seconds, r.format,
                 f", from content offset {r.content_start}" if r.content_start else "")
    elif r.status == "failed":
        log.error("%s", r.error)
    elif r.duplicate_of:
        log.info("%s: %s (as %s)", r.path, r.status, r.duplicate_of)
    else:
        log.info("%s: %s", r.path, r.status)


def ingest_paths(cfg: Config, patterns: Iterable[str], *, format_name: str | None = None,
                 vhost: str | None = None, as_of: dt.date | None = None,
                 on_result: Callable[[IngestResult], None] | None = None,
                 progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
                 ) -> list[IngestResult]:
    """Ingest files, globs and '-' (stdin) under the data-dir lock, oldest first."""
    fmt = get_format(format_name or "auto")
    jobs = [(name, fmt, vhost) for name in expand_paths(patterns)]
    return _run_jobs(cfg, jobs, as_of, on_result, progress_factory)


def source_files(cfg: Config, format_name: str | None = None) -> list[tuple[str, LogFormat, str | None]]:
    """(file, format, vhost) for every file the configured [[sources]] match now."""
    jobs: list[tuple[str, LogFormat, str | None]] = []
    for source in cfg.sources:
        fmt = get_format(format_name or source.format)
        try:
            names = expand_paths([source.path])
        except InputError:
            log.warning("source %s matches no file yet", source.path)
            continue
        jobs.extend((name, fmt, source.vhost) for name in names if name not in {j[0] for j in jobs})
    return jobs


def ingest_jobs(cfg: Config, jobs: list[tuple[str, LogFormat, str | None]], *,
                as_of: dt.date | None = None,
                on_result: Callable[[IngestResult], None] | None = None,
                progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
                ) -> list[IngestResult]:
    """Ingest (file, format, vhost) jobs, e.g. a selection of `source_files`."""
    return _run_jobs(cfg, jobs, as_of, on_result, progress_factory)


def source_jobs(cfg: Config, patterns: Iterable[str] | None = None) -> list[Job]:
    """(file, format, vhost) for every file the [[sources]] match now, or, with `patterns`,
    for the files those paths and globs match, each read like the [[sources]] entry that
    matches it (else as a combined log without vhost)."""
    configured = source_files(cfg)
    if patterns is None:
        return configured
    by_file = {Path(job[0]).resolve(): job for job in configured}
    return [by_file.get(Path(name).resolve(), (name, get_format("auto"), None))
            for name in expand_paths(patterns)]


def plan_sources(cfg: Config, patterns: Iterable[str] | None = None) -> list[PlannedFile]:
    """Plan an ingest of every file the [[sources]] (or `patterns`) match now."""
    return plan_ingest(cfg, source_jobs(cfg, patterns))


def ingest_sources(cfg: Config, *, as_of: dt.date | None = None, format_name: str | None = None,
                   on_result: Callable[[IngestResult], None] | None = None,
                   progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
                   ) -> list[IngestResult]:
    """Ingest every file of the configured [[sources]]."""
    return _run_jobs(cfg, source_files(cfg, format_name), as_of, on_result, progress_factory)

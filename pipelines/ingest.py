"""Ingest: one source log into the RAW tier and the DETAIL table, all or nothing.

For each file:
 1. recognise content already ingested: first by the file's bytes (cheap, no
    decompression), then by its head (pipelines.sources: a grown, rotated or recompressed
    log continues the content of earlier pieces, whose prefix is skipped) and finally by
    the decompressed content hash -> "already ingested", nothing written; resolve the
    format ('auto': the earlier piece's, else pipelines.detect);
 2. read the new lines in chunks of whole lines (pipelines.lines) and, per chunk, in DuckDB on a
    second connection: parse every line (pipelines.parse) into an Arrow table, enrich the
    distinct clients, agents, referrer hosts and address-bearing texts (pipelines.enrich),
    then
      - COPY parsed rows inside the RAW window to raw/.staging/F/date=D/   (full data)
      - COPY rejected lines with their reason to .staging/F/rejects/date=AS_OF/
      - append the anonymised rows to `requests` in the file's transaction  (DETAIL)
    Memory is bounded by the chunk size: nothing per chunk is registered on the
    transaction's connection, which would keep it alive until the commit.
 3. insert the ledger row in `ingested_files` and COMMIT the one transaction that holds
    every DETAIL row of the file; then promote the staged RAW files (pipelines.raw).
A crash before the commit leaves only staging, which the next run discards; a crash after
it leaves staging that the next run promotes. Either way the rerun completes.

Every file reconciles: lines_read = lines_parsed + lines_rejected (a CHECK constraint).
Results carry counts, days and paths only, never log content: they travel through
Prefect's database.
"""
from __future__ import annotations

import datetime as dt
import glob
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from . import anonymize, detect, enrich, lines, raw, retention, sources, warehouse
from .config import Config
from .errors import IngestError, InputError
from .formats import get_format
from .geo import GeoLookup
from .lock import data_dir_lock
from .parse import LogFormat, parse_sql, sql_str
from .rdns import ReverseDNS, open_reverse_dns

log = logging.getLogger("weblog.ingest")

DIAGNOSE_PER_CHUNK = 200  # detailed reject reasons computed in Python per chunk
STDIN = "<stdin>"
REFERRER_HOST_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)"
ADDRESS_HINT_RE = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"


@dataclass
class IngestResult:
    """What one ingest did: counts, days and names only (safe for Prefect and logs)."""

    path: str
    status: str  # ingested | already ingested | no new lines
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
    format: str | None = None  # the format the lines were read with ('auto' resolved)
    content_start: int = 0  # > 0: a growing or rotated file, read from here on

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
    if done["promoted"] or done["discarded"]:
        log.info("recovered interrupted ingests: promoted %s, discarded %s",
                 done["promoted"], done["discarded"])
    return done


# --------------------------------------------------------------------------- SQL pieces

def _path_expr(query_keep: tuple[str, ...]) -> str:
    base = "split_part(split_part(url, '#', 1), '?', 1)"
    if not query_keep:
        return base
    keep = ", ".join(sql_str(k) for k in query_keep)
    query = "split_part(split_part(url, '#', 1), '?', 2)"
    kept = (f"array_to_string(list_filter(string_split({query}, '&'), "
            f"lambda q: split_part(q, '=', 1) IN ({keep})), '&')")
    return f"{base} || coalesce('?' || nullif({kept}, ''), '')"


def _staged_sql(fmt: LogFormat, cfg: Config, as_of: dt.date) -> str:
    """Parse + local day/hour + future check + DETAIL path, over the chunk relation."""
    tz = sql_str(cfg.timezone)
    # lines stamped after the end of the as-of day (+1 day of slack for clock skew) are
    # forged or broken: kept as rejects so they cannot pin RAW data far into the future
    horizon = dt.datetime.combine(as_of + dt.timedelta(days=2), dt.time())
    future = f"timezone('UTC', timezone({tz}, TIMESTAMP '{horizon.isoformat(sep=' ')}'))"
    return f"""
SELECT
    * EXCLUDE (reject, local_ts),
    CASE WHEN reject IS NULL AND ts >= {future} THEN 'timestamp in the future'
         ELSE reject END AS reject,
    CAST(local_ts AS DATE) AS day,
    CAST(hour(local_ts) AS TINYINT) AS hour
FROM (
    SELECT *,
        timezone({tz}, CAST(ts AS TIMESTAMPTZ)) AS local_ts,
        CASE WHEN url IS NOT NULL THEN {_path_expr(cfg.query_keep)} END AS path,
        nullif(lower(regexp_extract(referrer, {sql_str(REFERRER_HOST_RE)}, 1)), '') AS referrer_host
    FROM ({parse_sql(fmt, "chunk_lines", cfg.timezone)})
)
"""


RAW_COLUMNS = """
    day AS date, day, ts, p.vhost, p.client, c.address AS client_address,
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
    coalesce(mr.masked, p.protocol) AS protocol, status, bytes,
    r.referrer_domain,
    a.browser, a.browser_major, a.os, a.device, coalesce(a.is_bot, false) AS is_bot, a.bot_name,
    c.country, c.city, c.asn, c.as_org,
    time_served_ms,
    {file_id}::INTEGER AS source_file_id, line_no
FROM parsed p
LEFT JOIN enr_clients c ON c.client IS NOT DISTINCT FROM p.client
        AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
LEFT JOIN enr_agents a ON a.user_agent IS NOT DISTINCT FROM p.user_agent
LEFT JOIN enr_referrers r ON r.referrer_host = p.referrer_host
LEFT JOIN enr_texts mp ON mp.original = p.path
LEFT JOIN enr_texts mv ON mv.original = p.vhost
LEFT JOIN enr_texts mm ON mm.original = p.method
LEFT JOIN enr_texts mr ON mr.original = p.protocol
WHERE p.reject IS NULL
"""


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


def _distinct(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    return [v for (v,) in con.execute(sql).fetchall()]


def _detail_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'requests' ORDER BY ordinal_position").fetchall()]


def _process_chunk(con: duckdb.DuckDBPyConnection, work: duckdb.DuckDBPyConnection,
                   chunk: lines.Chunk, k: int, *, fmt: LogFormat, cfg: Config, file_id: int,
                   as_of: dt.date, window: dt.date, default_vhost: str, geo: GeoLookup | None,
                   stage: Path, totals: _Totals, detail_columns: list[str],
                   rdns: ReverseDNS | None = None) -> None:
    """Parse, enrich and write one chunk. Everything but the DETAIL append runs on `work`, a
    second connection outside the file's transaction: a table registered on the transaction's
    connection would stay alive until its end (memory grew by ~200 MB per 64 MB chunk)."""
    work.register("chunk_lines", chunk.table)
    work.register("parsed", work.sql(_staged_sql(fmt, cfg, as_of)).to_arrow_table())

    # distinct values -> small enrichment tables
    # the client of each distinct (client, forwarded-for chain) pair: trusted proxies, rDNS
    clients = work.execute("SELECT DISTINCT client, forwarded_for FROM parsed "
                           "WHERE reject IS NULL").fetchall()
    work.register("enr_clients", enrich.clients_table(clients, geo, cfg.ipv4_prefix,
                                                      cfg.ipv6_prefix, cfg.trusted_proxies, rdns))
    uas = _distinct(work, "SELECT DISTINCT user_agent FROM parsed WHERE reject IS NULL")
    work.register("enr_agents", enrich.agents_table(uas, cfg.ipv4_prefix, cfg.ipv6_prefix))
    hosts = _distinct(work, "SELECT DISTINCT referrer_host FROM parsed "
                           "WHERE reject IS NULL AND referrer_host IS NOT NULL")
    work.register("enr_referrers", enrich.referrers_table(hosts, cfg.ipv4_prefix, cfg.ipv6_prefix))
    texts = _distinct(work, f"""
        SELECT v FROM (SELECT DISTINCT path AS v FROM parsed WHERE reject IS NULL
                       UNION SELECT DISTINCT vhost FROM parsed WHERE reject IS NULL
                       -- a junk request line can put anything in method and protocol
                       UNION SELECT DISTINCT method FROM parsed WHERE reject IS NULL
                       UNION SELECT DISTINCT protocol FROM parsed WHERE reject IS NULL)
        WHERE v IS NOT NULL AND regexp_matches(v, {sql_str(ADDRESS_HINT_RE)})""")
    work.register("enr_texts", enrich.masked_texts_table(texts, cfg.ipv4_prefix, cfg.ipv6_prefix))

    # counts
    (n, n_ok, n_old, n_bad, t0, t1, days) = work.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE reject IS NULL),
               count(*) FILTER (WHERE reject IS NULL AND day < DATE '{window}'),
               count(*) FILTER (WHERE reject IS NULL AND c.kind NOT IN ('ipv4', 'ipv6', 'hostname')),
               min(ts) FILTER (WHERE reject IS NULL), max(ts) FILTER (WHERE reject IS NULL),
               list(DISTINCT day) FILTER (WHERE reject IS NULL)
        FROM parsed p LEFT JOIN enr_clients c ON c.client IS NOT DISTINCT FROM p.client
        AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
    """).fetchall()[0]
    totals.lines += n
    totals.parsed += n_ok
    totals.rejected += n - n_ok
    totals.too_old += n_old
    totals.bad_client += n_bad
    totals.days.update(days or [])
    if t0 is not None:
        totals.first_ts = t0 if totals.first_ts is None else min(totals.first_ts, t0)
        totals.last_ts = t1 if totals.last_ts is None else max(totals.last_ts, t1)

    # RAW: rows inside the window, partitioned by day
    if n_ok - n_old > 0:
        work.execute(f"""
            COPY (SELECT {RAW_COLUMNS.format(file_id=file_id)}
                  FROM parsed p LEFT JOIN enr_clients c ON c.client IS NOT DISTINCT FROM p.client
        AND c.forwarded_for IS NOT DISTINCT FROM p.forwarded_for
                  WHERE p.reject IS NULL AND p.day >= DATE '{window}')
            TO {sql_str(stage.as_posix())}
            (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), OVERWRITE_OR_IGNORE,
             FILENAME_PATTERN '{file_id}-{k}_{{i}}')""")

    # rejects, with a precise reason for the first few that do not match the format
    if n - n_ok:
        _write_rejects(work, fmt, file_id, k, as_of, stage, totals)

    detail = work.sql(
        f"SELECT {', '.join(detail_columns)} FROM ("
        f"{DETAIL_SELECT.format(file_id=file_id, default_vhost=sql_str(default_vhost))})"
    ).to_arrow_table()
    con.from_arrow(detail).insert_into("requests")  # a relation, not a registered view
    del detail
    for name in ("chunk_lines", "parsed", "enr_clients", "enr_agents", "enr_referrers",
                 "enr_texts"):
        work.unregister(name)


def _write_rejects(con: duckdb.DuckDBPyConnection, fmt: LogFormat, file_id: int, k: int,
                   as_of: dt.date, stage: Path, totals: _Totals) -> None:
    generic = "does not match format " + fmt.name
    sample = con.execute(f"""
        SELECT p.line_no, c.line FROM parsed p JOIN chunk_lines c USING (line_no)
        WHERE p.reject = {sql_str(generic)} ORDER BY p.line_no LIMIT {DIAGNOSE_PER_CHUNK}
    """).fetchall()
    import pyarrow as pa

    diag = pa.table({"line_no": pa.array([ln for ln, _ in sample], pa.int64()),
                     "reason": pa.array([fmt.diagnose(text) for _, text in sample], pa.string())})
    con.register("diag", diag)
    rows = con.execute("""
        SELECT coalesce(d.reason, p.reject) AS reason, count(*) FROM parsed p
        LEFT JOIN diag d USING (line_no) WHERE p.reject IS NOT NULL GROUP BY ALL
    """).fetchall()
    for reason, count in rows:
        totals.reasons[reason] = totals.reasons.get(reason, 0) + count
    folder = raw.ensure_dir(stage / "rejects" / raw.partition_name(as_of))
    target = folder / f"{file_id}-{k}.parquet"
    con.execute(f"""
        COPY (SELECT DATE '{as_of}' AS day, {file_id}::INTEGER AS source_file_id, p.line_no,
                     coalesce(d.reason, p.reject) AS reason,
                     rtrim(c.line, chr(10) || chr(13)) AS line
              FROM parsed p JOIN chunk_lines c USING (line_no) LEFT JOIN diag d USING (line_no)
              WHERE p.reject IS NOT NULL ORDER BY p.line_no)
        TO {sql_str(target.as_posix())} (FORMAT parquet, COMPRESSION zstd)""")
    con.unregister("diag")


# --------------------------------------------------------------------------- one file

def _already(con: duckdb.DuckDBPyConnection, column: str, digest: str) -> str | None:
    # any piece: a piece's hashes cover the whole file as it was then (its skipped prefix too)
    row = con.execute(f"SELECT path FROM ingested_files WHERE {column} = ? "
                      "ORDER BY file_id LIMIT 1", [digest]).fetchall()
    return row[0][0] if row else None


def ingest_file(con: duckdb.DuckDBPyConnection, cfg: Config, path: Path, *,
                fmt: LogFormat, vhost: str | None, as_of: dt.date,
                geo: GeoLookup | None, display_path: str | None = None,
                progress: Callable[[int], None] | None = None,
                rdns: ReverseDNS | None = None) -> IngestResult:
    """Ingest one file (caller holds the data-dir lock). See the module docstring."""
    started = time.perf_counter()
    shown = display_path or str(path)
    ident = lines.file_identity(path)
    digest = lines.file_sha256(path)
    earlier = _already(con, "sha256", digest)
    if earlier is not None:
        return IngestResult(shown, "already ingested", duplicate_of=earlier,
                            seconds=time.perf_counter() - started)
    # growing and rotated files: skip what earlier pieces of this content read
    try:
        plan = sources.plan(con, path, finished=display_path == STDIN)
        if plan.nothing_new:
            return IngestResult(shown, "already ingested", duplicate_of=plan.previous,
                                seconds=time.perf_counter() - started)
        resolved = detect.resolve(fmt, path, shown, plan.previous_format)
        if resolved is None:
            return IngestResult(shown, "no new lines", seconds=time.perf_counter() - started)
        fmt = resolved
        carry = sources.carry_before(path, fmt, plan.first_line_no)
    except (OSError, EOFError) as exc:
        raise IngestError(f"Cannot read {shown}: {type(exc).__name__}: {_safe(exc)}.") from None

    window = retention.raw_window_start(as_of, cfg.raw_days)
    file_id = con.execute("SELECT nextval('ingested_files_seq')").fetchall()[0][0]
    stage = raw.ensure_dir(raw.staging_dir(cfg.data_dir, file_id))
    totals = _Totals()
    stats = lines.ReadStats()
    # the configured vhost goes to DETAIL and the ledger too: no address literal in it either
    vhost = anonymize.mask_addresses(vhost, cfg.ipv4_prefix, cfg.ipv6_prefix) if vhost else None
    default_vhost = vhost or "default"
    try:
        with raw.private_umask(), open(path, "rb") as handle:
            stream, stats.compression = lines.open_decompressed(handle)
            work = warehouse.cursor(con)
            columns = _detail_columns(con)
            con.execute("BEGIN TRANSACTION")
            try:
                chunks = lines.iter_chunks(stream, stats, skip_bytes=plan.skip_bytes,
                                           first_line_no=plan.first_line_no,
                                           complete_only=plan.complete_only)
                for k, chunk in enumerate(chunks):
                    bound, carry = fmt.bind(chunk.table, carry)  # W3C: this chunk's headers
                    _process_chunk(con, work, chunk, k, fmt=bound, cfg=cfg, file_id=file_id,
                                   as_of=as_of, window=window, default_vhost=default_vhost,
                                   geo=geo, stage=stage, totals=totals, detail_columns=columns,
                                   rdns=rdns)
                    if progress is not None:
                        progress(handle.tell())  # bytes of the file on disk read so far
                earlier = _already(con, "content_sha256", stats.content_sha256)
                if earlier is not None or not stats.lines:
                    con.execute("ROLLBACK")
                    raw.discard(cfg.data_dir, file_id)
                    if earlier is None and plan.resumes:
                        earlier = plan.previous  # only a partial line, or nothing, since then
                    return IngestResult(shown, "already ingested" if earlier else "no new lines",
                                        duplicate_of=earlier,
                                        seconds=time.perf_counter() - started)
                con.execute("""
                    INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)""", [
                    file_id, shown, vhost, fmt.name, stats.compression,
                    ident["size"], digest, stats.content_sha256, stats.head_sha256,
                    plan.skip_bytes, stats.content_bytes, ident["device"], ident["inode"],
                    totals.lines, totals.parsed, totals.rejected, totals.too_old,
                    totals.bad_client, totals.first_ts, totals.last_ts, as_of])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                work.close()
    except (OSError, EOFError) as exc:
        raw.discard(cfg.data_dir, file_id)
        # the message names the file and the error class only: never line content
        raise IngestError(f"Cannot read {shown}: {type(exc).__name__}: {_safe(exc)}.") from None
    except duckdb.Error as exc:
        raw.discard(cfg.data_dir, file_id)
        raise IngestError(f"Ingest of {shown} failed in the database ({type(exc).__name__}); "
                          "nothing of it was kept.") from None
    except BaseException:
        raw.discard(cfg.data_dir, file_id)
        raise
    raw.promote(cfg.data_dir, file_id)
    return IngestResult(
        shown, "ingested", file_id, totals.lines, totals.parsed, totals.rejected,
        totals.too_old, totals.bad_client, sorted(d.isoformat() for d in totals.days),
        dict(sorted(totals.reasons.items())), None, time.perf_counter() - started, fmt.name,
        plan.skip_bytes)


def _safe(exc: BaseException) -> str:
    """An OS error's strerror (no payload); other errors by class only."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "corrupt or truncated data" if isinstance(exc, EOFError) else "read error"


def _spool_stdin(data_dir: Path) -> Path:
    """Copy stdin into raw/.spool (owner-only: it holds addresses) so it can be hashed first."""
    raw.prepare(data_dir)
    target = raw.spool_root(data_dir) / f"stdin-{uuid.uuid4().hex}"
    with raw.private_umask(), open(target, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 8 << 20)
    return target


def _run_jobs(cfg: Config, jobs: list[tuple[str, LogFormat, str | None]], as_of: dt.date | None,
              on_result: Callable[[IngestResult], None] | None,
              progress_factory: Callable[[str, int], Callable[[int], None]] | None,
              ) -> list[IngestResult]:
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    results = []
    geo = open_geo(cfg)
    resolver = open_reverse_dns(cfg)  # one per run: each address is looked up once
    try:
        with data_dir_lock(cfg.data_dir, what="ingest"):
            raw.prepare(cfg.data_dir)
            con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
            try:
                recover(con, cfg.data_dir)
                for name, fmt, vhost in jobs:
                    spooled = _spool_stdin(cfg.data_dir) if name == "-" else None
                    path = spooled or Path(name)
                    shown = STDIN if spooled else str(Path(name).absolute())
                    progress = progress_factory(shown, path.stat().st_size) if progress_factory else None
                    try:
                        result = ingest_file(con, cfg, path, fmt=fmt, vhost=vhost, as_of=as_of,
                                             geo=geo, display_path=shown, progress=progress,
                                             rdns=resolver)
                    finally:
                        if spooled:
                            spooled.unlink(missing_ok=True)
                    results.append(result)
                    _log_result(result)
                    if on_result:
                        on_result(result)
            finally:
                con.close()
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


def ingest_sources(cfg: Config, *, as_of: dt.date | None = None, format_name: str | None = None,
                   on_result: Callable[[IngestResult], None] | None = None,
                   progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
                   ) -> list[IngestResult]:
    """Ingest every file of the configured [[sources]]."""
    return _run_jobs(cfg, source_files(cfg, format_name), as_of, on_result, progress_factory)

"""Data-subject requests: find, and erase, what is stored about one address or host name.

The address is normalised like the ingest normalises clients (anonymize.parse_client:
'[2001:DB8::1]:443' is 2001:db8::1, '::ffff:192.0.2.1' is 192.0.2.1, host names lower
case) and matched against RAW's `client_address` and `client_hostname`, and against
every entry of `forwarded_for` chains. In RAW rejects (lines that did not parse) a line
matches when it holds the address as a literal, or the host name as whole labels.

`find_subject` lists the RAW records (time, vhost, client as logged, request, status),
the number of rejects lines, and the DETAIL rows linked to those records; DETAIL and the
statistics otherwise hold only the truncated network (or the registered domain), shared
with everyone else in it, which cannot be traced back to one address.

`erase_subject` removes, in one crash-safe removal batch (pipelines.removal):
 1. rewritten copies of every affected RAW and rejects file without the subject's
    records are written into raw/.purging/B/files/, and the (source_file_id, line_no)
    keys of the removed RAW records into B/detail_keys.parquet; then the manifest (file
    names, SHA-256 before and after, row counts, days — never the address);
 2. each original is replaced by its copy with an atomic rename (or deleted when
    nothing is left in it);
 3. in one transaction: the DETAIL rows linked to the removed records are deleted (so
    statistics stay exact and no longer count the person: a DETAIL file holding any is
    replaced by a copy without them, written before, pipelines.detail) and the
    `erase_subject` ledger entry is appended; the replaced files are deleted after it;
 4. the affected days' statistics are recomputed (aggregate_days: visitors change);
 5. the batch is deleted, and the warehouse rewritten (pipelines.compact).
A killed erasure is finished by the next `weblog purge` or `weblog subject erase`
(`finish_erasure`): a staged copy that still exists has not replaced its original yet.
"""
from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from . import aggregate, detail, ledger, leaks, lines, raw, removal, retention, warehouse
from .anonymize import address_literals, parse_client, truncate
from .config import Config
from .domains import registered_domain
from .errors import InputError, WeblogError
from .lock import data_dir_lock
from .parse import sql_str
from .prefect_home import iter_texts, prefect_home

STAGED = "files"
KEYS = "detail_keys.parquet"


@dataclass(frozen=True)
class Subject:
    kind: str  # 'address' | 'host name'
    value: str  # normalised
    network: str | None  # what DETAIL and STATS hold instead


def parse_subject(text: str, cfg: Config) -> Subject:
    client = parse_client(text)
    if client.address:
        return Subject("address", client.address,
                       truncate(client.address, cfg.ipv4_prefix, cfg.ipv6_prefix))
    if client.hostname:
        return Subject("host name", client.hostname, registered_domain(client.hostname))
    raise InputError("The argument is neither an IP address nor a host name "
                     "(e.g. 203.0.113.7, 2001:db8::7 or host.example.net).")


def mentions(text: str, subject: Subject) -> bool:
    """Whether a line holds the subject: its address as a literal, or its host name."""
    if subject.kind == "address":
        return any(address == subject.value for _, address in address_literals(text))
    return bool(leaks.Scanner(hostnames={subject.value}).needles(text.lower()))


# --------------------------------------------------------------------------- finding

def raw_files(data_dir: Path) -> list[Path]:
    return sorted(f for folder in raw.raw_days(data_dir).values() for f in folder.glob("*.parquet"))


def reject_files(data_dir: Path) -> list[Path]:
    return sorted(f for folder in raw.reject_days(data_dir).values()
                  for f in folder.glob("*.parquet"))


def _listing(files: list[Path]) -> str:
    return "[" + ", ".join(sql_str(f.as_posix()) for f in files) + "]"


def _raw_matches(reader: duckdb.DuckDBPyConnection, files: list[Path],
                 subject: Subject) -> list[dict]:
    if not files:
        return []
    rel = (f"read_parquet({_listing(files)}, hive_partitioning = false, union_by_name = true, "
           "filename = true)")
    chains = [v for (v,) in reader.execute(f"select distinct forwarded_for from {rel} "
                                           "where forwarded_for is not null").fetchall()
              if any(_same(part, subject) for part in v.split(","))]
    reader.register("subject_chains", pa.table({"chain": pa.array(chains, pa.string())}))
    try:
        cur = reader.execute(f"""
            select filename, source_file_id, line_no, day, ts, vhost, client, request, status
            from {rel}
            where client_address = $v or client_hostname = $v
               or forwarded_for in (select chain from subject_chains)
            order by ts, source_file_id, line_no""", {"v": subject.value})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        reader.unregister("subject_chains")


def _same(part: str, subject: Subject) -> bool:
    client = parse_client(part)
    return subject.value in (client.address, client.hostname)


def _reject_matches(reader: duckdb.DuckDBPyConnection, files: list[Path],
                    subject: Subject) -> list[dict]:
    out = []
    for f in files:
        cur = reader.execute(f"select source_file_id, line_no, line from read_parquet("
                             f"{sql_str(f.as_posix())}, hive_partitioning = false)")
        while batch := cur.fetchmany(10_000):
            out += [{"filename": f.as_posix(), "source_file_id": s, "line_no": n}
                    for s, n, line in batch if line and mentions(line, subject)]
    return out


def _linked_detail_rows(con: duckdb.DuckDBPyConnection | None, keys: pa.Table) -> int:
    if con is None or keys.num_rows == 0:
        return 0
    con.register("subject_keys", keys)
    try:
        return con.execute("select count(*) from requests r join subject_keys k "
                           "using (source_file_id, line_no)").fetchall()[0][0]
    finally:
        con.unregister("subject_keys")


def _keys(rows: list[dict]) -> pa.Table:
    return pa.table({"source_file_id": pa.array([r["source_file_id"] for r in rows], pa.int32()),
                     "line_no": pa.array([r["line_no"] for r in rows], pa.int64())})


def prefect_mentions(data_dir: Path, subject: Subject) -> int:
    """How many places in Prefect's home hold the subject (it should be none)."""
    scanner = leaks.Scanner(addresses={subject.value} if subject.kind == "address" else set(),
                            hostnames={subject.value} if subject.kind == "host name" else set())
    return sum(1 for _, text in iter_texts(prefect_home(data_dir))
               if scanner.needles(text.lower()))


@dataclass
class SubjectRecords:
    """What is stored about one subject. Holds the subject's data: for the person who asked."""

    kind: str
    network: str | None
    as_of: str
    raw_window_start: str
    records: list[dict] = field(default_factory=list)  # day, time, vhost, client, request, status
    raw_files: int = 0
    rejects_lines: int = 0
    rejects_files: int = 0
    detail_rows_linked: int = 0
    prefect_mentions: int = 0
    unreadable: list[str] = field(default_factory=list)  # damaged RAW files: not searched

    def to_dict(self) -> dict:
        return asdict(self)


def _all_matches(reader: duckdb.DuckDBPyConnection, data_dir: Path,
                 subject: Subject) -> tuple[list[dict], list[dict], list[Path]]:
    """(RAW records, rejects lines, damaged files): a file that cannot be read (truncated
    or corrupt) is left out and returned, so the caller can name it."""
    files, rejects = raw_files(data_dir), reject_files(data_dir)
    try:
        return _raw_matches(reader, files, subject), _reject_matches(reader, rejects, subject), []
    except duckdb.Error:
        bad = raw.unreadable(files + rejects)
        if not bad:
            raise
    return (_raw_matches(reader, [f for f in files if f not in bad], subject),
            _reject_matches(reader, [f for f in rejects if f not in bad], subject), bad)


def find_subject(cfg: Config, address: str, *, as_of: dt.date | str | None = None) -> SubjectRecords:
    """Everything RAW holds about `address`, and what DETAIL and STATS hold instead."""
    subject = parse_subject(address, cfg)
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    window = retention.raw_window_start(as_of, cfg.raw_days)
    tz = zoneinfo.ZoneInfo(cfg.timezone)
    out = SubjectRecords(subject.kind, subject.network, as_of.isoformat(), window.isoformat())
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="subject find"):
        reader = duckdb.connect()
        reader.execute("set TimeZone = 'UTC'")
        con = (warehouse.connect(cfg.data_dir, read_only=True)
               if warehouse.warehouse_path(cfg.data_dir).exists() else None)
        try:
            rows, rejects, bad = _all_matches(reader, cfg.data_dir, subject)
            out.unreadable = [raw.shown(f, cfg.data_dir) for f in bad]
            out.detail_rows_linked = _linked_detail_rows(con, _keys(rows))
        finally:
            reader.close()
            if con is not None:
                con.close()
    for r in rows:
        local = r["ts"].replace(tzinfo=dt.UTC).astimezone(tz)
        out.records.append({"day": r["day"].isoformat(), "time": local.isoformat(),
                            "vhost": r["vhost"], "client": r["client"], "request": r["request"],
                            "status": r["status"], "in_window": r["day"] >= window})
    out.raw_files = len({r["filename"] for r in rows})
    out.rejects_lines = len(rejects)
    out.rejects_files = len({r["filename"] for r in rejects})
    out.prefect_mentions = prefect_mentions(cfg.data_dir, subject)
    return out


# --------------------------------------------------------------------------- erasing

@dataclass
class ErasureResult:
    """What an erasure removed: counts, file names, days, the ledger entry. No address."""

    raw_records: int = 0
    rejects_lines: int = 0
    detail_rows: int = 0
    files: int = 0
    days: list[str] = field(default_factory=list)
    entry: dict | None = None
    rewrite: dict | None = None
    prefect_mentions: int = 0
    recovered: list[dict] = field(default_factory=list)  # interrupted runs finished first
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _stage_copy(reader: duckdb.DuckDBPyConnection, source: Path, drop: pa.Table,
                target: Path) -> int:
    """Write `source` without the rows keyed in `drop` to `target`; return rows left."""
    reader.register("drop_keys", drop)
    try:
        body = (f"select r.* from read_parquet({sql_str(source.as_posix())}, "
                "hive_partitioning = false) r anti join drop_keys d "
                "on r.source_file_id = d.source_file_id and r.line_no = d.line_no")
        (left,) = reader.execute(f"select count(*) from ({body})").fetchall()[0]
        if left:
            raw.ensure_dir(target.parent)
            with raw.private_umask():
                reader.execute(f"copy ({body} order by r.line_no) to "
                               f"{sql_str(target.as_posix())} ({raw.PARQUET_OPTIONS})")
        return left
    finally:
        reader.unregister("drop_keys")


def _plan_files(reader: duckdb.DuckDBPyConnection, batch: removal.Batch, data_dir: Path,
                matches: list[dict]) -> list[dict]:
    root = raw.raw_root(data_dir)
    by_file: dict[str, list[dict]] = {}
    for m in matches:
        by_file.setdefault(m["filename"], []).append(m)
    files = []
    for name, rows in sorted(by_file.items()):
        source = Path(name)
        rel = str(source.relative_to(root))
        (before,) = reader.execute("select num_rows from parquet_file_metadata(?)",
                                   [source.as_posix()]).fetchall()[0]
        staged = batch.path / STAGED / rel
        left = _stage_copy(reader, source, _keys(rows), staged)
        files.append({"name": rel, "sha256_before": lines.file_sha256(source),
                      "sha256_after": lines.file_sha256(staged) if left else None,
                      "rows_removed": before - left, "rows_left": left})
    return files


def _apply(batch: removal.Batch, data_dir: Path) -> None:
    """Replace each original by its staged copy (or delete it): one atomic rename each.
    A staged copy that still exists has not replaced its original yet."""
    root = raw.raw_root(data_dir)
    for f in batch.manifest["details"]["files"]:
        target = root / f["name"]
        staged = batch.path / STAGED / f["name"]
        if f["rows_left"]:
            if staged.exists() and target.parent.is_dir():
                os.replace(staged, target)
        else:
            target.unlink(missing_ok=True)
        if target.parent.is_dir() and not any(target.parent.iterdir()):
            target.parent.rmdir()  # an emptied day partition
    for folder in {(root / f["name"]).parent for f in batch.manifest["details"]["files"]}:
        folder = folder if folder.is_dir() else folder.parent
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _erase_detail_files(con: duckdb.DuckDBPyConnection, cfg: Config, batch: removal.Batch,
                        keys: Path) -> tuple[list[str], list[Path], int]:
    """Copies, without the linked rows, of the DETAIL files that hold any: written beside
    them under a new name (pipelines.detail.erased_name), not DETAIL until `_commit`'s
    transaction lists them. Returns (names replaced, copies, rows removed)."""
    (ids,) = con.execute(f"select list(distinct source_file_id) from read_parquet("
                         f"{sql_str(keys.as_posix())})").fetchall()[0]
    candidates = [n for n in detail.listed(con) if detail.file_id_of(n) in set(ids or [])]
    replaced: list[str] = []
    copies: list[Path] = []
    removed = 0
    for name in candidates:
        source = (cfg.data_dir / name).as_posix()
        linked_sql = (f"select count(*) from read_parquet({sql_str(source)}) r semi join "
                      f"read_parquet({sql_str(keys.as_posix())}) k "
                      "using (source_file_id, line_no)")
        (linked,) = con.execute(linked_sql).fetchall()[0]
        if not linked:
            continue
        replaced.append(name)
        removed += linked
        copy = cfg.data_dir / detail.erased_name(name, batch.id)
        with raw.private_umask():
            (left,) = con.execute(
                f"copy (select * from read_parquet({sql_str(source)}) r anti join "
                f"read_parquet({sql_str(keys.as_posix())}) k using (source_file_id, line_no)) "
                f"to {sql_str(copy.as_posix())} ({raw.PARQUET_OPTIONS})").fetchall()[0]
        if left:
            copies.append(copy)
        else:
            copy.unlink(missing_ok=True)
    return replaced, copies, removed


def _commit(con: duckdb.DuckDBPyConnection, cfg: Config, batch: removal.Batch,
            result_text: str) -> ledger.Entry:
    """Delete the linked DETAIL rows and append the ledger entry, in one transaction: rows
    in the table are deleted, files that hold any are replaced by copies without them."""
    keys = batch.path / KEYS
    replaced: list[str] = []
    copies: list[Path] = []
    in_files = 0
    if keys.exists():
        replaced, copies, in_files = _erase_detail_files(con, cfg, batch, keys)
    with warehouse.transaction(con):
        deleted = 0
        if keys.exists():
            (deleted,) = con.execute(
                f"delete from {detail.TABLE} r using read_parquet({sql_str(keys.as_posix())}) k "
                "where r.source_file_id = k.source_file_id and r.line_no = k.line_no"
            ).fetchall()[0]
        before = detail.unregister(con, replaced)
        after = detail.register(con, cfg.data_dir, copies)
        if before - after != in_files:
            raise WeblogError("DETAIL changed while a subject was being erased; nothing of "
                              "DETAIL was changed.")
        detail.refresh_view(con, cfg.data_dir)
        entry = ledger.append(con, cfg, action="erase_subject", result=result_text, cutoff=None,
                              details={**batch.manifest["details"],
                                       "detail_rows": deleted + in_files})
    detail.sweep(con, cfg.data_dir)  # the replaced files
    ledger.sync_mirror(con, cfg.data_dir)
    return entry


def _recompute(con: duckdb.DuckDBPyConnection, cfg: Config, days: list[str]) -> None:
    if days:
        aggregate.aggregate_days(con, cfg, [dt.date.fromisoformat(d) for d in days]
                                 ).raise_for_failed()


def finish_erasure(con: duckdb.DuckDBPyConnection, cfg: Config, batch: removal.Batch, *,
                   recorded: ledger.Entry | None) -> ledger.Entry:
    """Finish an erasure a crash interrupted (steps 2-5 of the module docstring)."""
    entry = recorded
    if entry is None:
        _apply(batch, cfg.data_dir)
        entry = _commit(con, cfg, batch, "erased after interruption")
    _recompute(con, cfg, batch.manifest["details"].get("days", []))
    removal.finish(batch)
    return entry


def erase_subject(cfg: Config, address: str, *, force_compression: str | None = None
                  ) -> ErasureResult:
    """Remove every RAW record and rejects line of `address` and the DETAIL rows linked to
    them, recompute the affected days' statistics, and record it in the ledger."""
    from .ingest import recover as recover_ingest
    from .purge import PurgeResult, recover_batches, rewrite_if_due

    started = time.perf_counter()
    subject = parse_subject(address, cfg)
    result = ErasureResult()
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="subject erase"):
        raw.prepare(cfg.data_dir)
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        reader = duckdb.connect()
        reader.execute("set TimeZone = 'UTC'")
        try:
            recover_ingest(con, cfg.data_dir)
            result.problems += ledger.sync_mirror(con, cfg.data_dir)
            scratch = PurgeResult("", False, "", "")
            recover_batches(con, cfg, scratch)
            result.problems += scratch.problems
            result.recovered = scratch.recovered
            rows, rejects, bad = _all_matches(reader, cfg.data_dir, subject)
            if bad:  # the subject may be in them: erasing the rest would be a false promise
                names = ", ".join(raw.shown(f, cfg.data_dir) for f in bad)
                raise WeblogError(f"{len(bad)} RAW file(s) cannot be read ({names}); nothing "
                                  "was erased: restore or remove them, then erase again.")
            if rows or rejects:
                batch = removal.create(cfg.data_dir)
                files = _plan_files(reader, batch, cfg.data_dir, rows + rejects)
                keys = _keys(rows)
                if keys.num_rows:
                    reader.register("erased_keys", keys)
                    reader.execute(f"copy erased_keys to {sql_str((batch.path / KEYS).as_posix())} "
                                   "(format parquet)")
                    reader.unregister("erased_keys")
                days = sorted({r["day"].isoformat() for r in rows})
                details = {"files": files, "count": len(files),
                           "partitions": sorted({str(Path(f["name"]).parent) for f in files}),
                           "raw_records": len(rows), "rejects_lines": len(rejects),
                           "days": days}
                removal.write_manifest(batch, "erase_subject", None, details)
                _apply(batch, cfg.data_dir)
                entry = _commit(con, cfg, batch, "erased")
                _recompute(con, cfg, days)
                removal.finish(batch)
                result.raw_records, result.rejects_lines = len(rows), len(rejects)
                result.detail_rows = entry.details["detail_rows"]
                result.files, result.days, result.entry = len(files), days, entry.summary()
        finally:
            reader.close()
            con.close()
        scratch = PurgeResult("", False, "", "")
        rewrite_if_due(cfg, scratch, force_compression)
        result.rewrite = scratch.rewrite
    result.prefect_mentions = prefect_mentions(cfg.data_dir, subject)
    if result.prefect_mentions:
        result.problems.append(f"Prefect's home holds this subject in {result.prefect_mentions} "
                               "place(s); weblog never puts it there: see `weblog audit verify`.")
    result.seconds = time.perf_counter() - started
    return result



# --------------------------------------------------------------------------- text

def render_find(found: SubjectRecords, shown: str) -> list[str]:
    """What is stored about the subject, printed safely (control characters escaped)."""
    from .stats import terminal_safe as safe

    n = len(found.records)
    out = [f"{found.kind.capitalize()} {safe(shown)}: {n:,} RAW record(s) in "
           f"{found.raw_files} file(s); the RAW window as of {found.as_of} starts "
           f"{found.raw_window_start}."]
    if n:
        out.append("time | vhost | client | request | status")
        for r in found.records:
            late = "" if r["in_window"] else "  (past the window: the next purge removes it)"
            out.append(f"{safe(r['time'])} | {safe(r['vhost'] or '-')} | {safe(r['client'])} | "
                       f"{safe(r['request'])} | {safe(r['status'])}{late}")
    out.append(f"RAW rejects: {found.rejects_lines:,} unparsed line(s) in {found.rejects_files} "
               "file(s) contain it (kept for raw_days like RAW; erase removes them).")
    if found.network:
        out.append(f"DETAIL and statistics hold only its network {safe(found.network)}, shared "
                   "with everyone in it; they cannot be linked back to one address.")
    else:
        out.append("DETAIL and statistics hold no part of it.")
    if found.detail_rows_linked:
        out.append(f"{found.detail_rows_linked:,} DETAIL row(s) are linked to the RAW records "
                   "above (same log line); erase removes them too, so statistics stay exact.")
    if found.unreadable:
        out.append(f"Not searched: {len(found.unreadable)} RAW file(s) cannot be read (truncated "
                   f"or corrupt): {', '.join(found.unreadable)}.")
    out.append("Prefect's home: " + ("not found." if not found.prefect_mentions else
                                      f"found in {found.prefect_mentions} place(s) (it should "
                                      "never be there: run `weblog audit verify`)."))
    return out


def render_erasure(r: ErasureResult) -> list[str]:
    out = [f"Finished an interrupted {item['action']} first (ledger entry {item['sequence']})."
           for item in r.recovered]
    if r.entry is None:
        out.append("Nothing stored about it in RAW: nothing to erase.")
    else:
        out.append(f"Erased {r.raw_records:,} RAW record(s), {r.rejects_lines:,} rejects "
                   f"line(s) and {r.detail_rows:,} linked DETAIL row(s) in {r.files} file(s).")
        if r.days:
            out.append(f"Statistics recomputed for {len(r.days)} day(s): {', '.join(r.days)}.")
        out.append(f"Ledger entry {r.entry['sequence']} erase_subject (no address recorded): "
                   f"{r.entry['hash']}")
    if r.rewrite:
        out.append(f"Warehouse rewritten into a fresh file ({r.rewrite['bytes_before']:,} -> "
                   f"{r.rewrite['bytes_after']:,} bytes).")
    out += [f"Problem: {p}" for p in r.problems]
    return out

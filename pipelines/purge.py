"""`weblog purge`: delete what the retention windows say must go, and record it.

One run, under the data-dir lock, as of a site-local day D (default today):

 0. finish what a killed run left: interrupted ingests (pipelines.raw.recover), the
    ledger mirror (ledger.sync_mirror), removal batches (`recover_batches`), a warehouse
    rewrite that was due;
 1. RAW day partitions raw/date=X/ with X < raw_window_start(D, raw_days) — but only days
    whose statistics are current (aggregate.stats_current). A stale day is aggregated
    first; if that fails, or cannot be done, the day is kept and reported (`kept`),
    never silently dropped (privacy invariant 3). The same holds for DETAIL days;
 2. RAW rejects partitions raw/rejects/date=X/ with X before the same cutoff;
 3. DETAIL days before window_start(D, detail_days): their files taken off the list
    (pipelines.detail) and their rows in the table deleted, with the ledger entry, in one
    transaction; then the files deleted;
 4. with retention.purge_source_logs: source log files matched by the [[sources]] globs
    (rotated .gz included) whose bytes or decompressed content are in the ingest ledger
    and whose newest line is before the RAW cutoff (invariant 6). A file never ingested
    in its current form is never deleted, and is reported;
 5. when warehouse rows were deleted: rewrite the warehouse into a fresh file
    (pipelines.compact), since DuckDB keeps deleted values in the file's bytes.

Crash safety: file deletions go through removal batches (pipelines.removal: manifest,
atomic moves into raw/.purging/B, ledger entry, delete B); warehouse deletions commit
with their ledger entry; the mirror catches up after each commit; the rewrite is redone
until a `rewrite_warehouse` entry follows the last deletion. Killed at any point, a rerun
finishes the job, records each removal exactly once, and leaves the ledger consistent
with the disk. Purge is idempotent: a second run as of the same day removes nothing.

`--dry-run` plans the same way on a read-only connection and changes nothing (a stale day
is listed as "aggregated first", as the real run would try).
"""
from __future__ import annotations

import datetime as dt
import glob
import hashlib
import os
import time
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from . import aggregate, compact, ledger, lines, raw, removal, retention, warehouse
from . import detail as detail_tier
from .anonymize import mask_addresses
from .config import Config
from .errors import WeblogError
from .lock import data_dir_lock


# --------------------------------------------------------------------------- results

@dataclass
class PurgeResult:
    """What a purge removed (or would remove): names, dates, counts, ledger hashes."""

    as_of: str
    dry_run: bool
    raw_cutoff: str
    detail_cutoff: str
    raw: list[dict] = field(default_factory=list)  # partitions: name, files, rows
    rejects: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)  # rows, days, first_day, last_day
    sources_enabled: bool = False
    sources: list[dict] = field(default_factory=list)  # name, bytes, last_day
    sources_never_ingested: list[str] = field(default_factory=list)
    aggregated: list[str] = field(default_factory=list)  # stale days aggregated first
    kept: list[dict] = field(default_factory=list)  # what, name, reason
    recovered: list[dict] = field(default_factory=list)  # batch, action, result
    rewrite: dict | None = None
    entries: list[dict] = field(default_factory=list)  # ledger receipts
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def removed_anything(self) -> bool:
        return bool(self.raw or self.rejects or self.detail.get("rows") or self.sources)


# --------------------------------------------------------------------------- planning

@dataclass
class Partition:
    """A RAW or rejects day partition on disk."""

    kind: str  # raw | rejects
    day: dt.date
    path: Path
    files: list[dict]  # name, bytes, rows (None: unreadable)

    @property
    def relative(self) -> str:
        """Its path under raw/ (also its path inside a removal batch)."""
        name = raw.partition_name(self.day)
        return name if self.kind == "raw" else f"rejects/{name}"

    @property
    def rows(self) -> int:
        return sum(f["rows"] or 0 for f in self.files)

    def summary(self, names: bool = False) -> dict:
        out: dict[str, Any] = {"name": self.relative, "files": len(self.files),
                               "rows": self.rows}
        if names:
            out["file_names"] = [f["name"] for f in self.files]
        return out


def _parquet_rows(reader: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    try:
        return reader.execute("select num_rows from parquet_file_metadata(?)",
                              [path.as_posix()]).fetchall()[0][0]
    except duckdb.Error:
        return None  # unreadable: removed all the same, it is RAW data past its window


def _partition(kind: str, day: dt.date, path: Path,
               reader: duckdb.DuckDBPyConnection) -> Partition:
    files = [{"name": str(f.relative_to(path)), "bytes": f.stat().st_size,
              "rows": _parquet_rows(reader, f)}
             for f in sorted(p for p in path.rglob("*") if p.is_file())]
    return Partition(kind, day, path, files)


def expired_partitions(data_dir: Path, cutoff: dt.date) -> tuple[list[Partition], list[Partition]]:
    """RAW and rejects partitions of days before `cutoff`."""
    reader = duckdb.connect()
    try:
        out: tuple[list[Partition], list[Partition]] = ([], [])
        for kind, parts, target in (("raw", raw.raw_days(data_dir), out[0]),
                                    ("rejects", raw.reject_days(data_dir), out[1])):
            target.extend(_partition(kind, day, path, reader)
                          for day, path in parts.items() if day < cutoff)
        return out
    finally:
        reader.close()


def _detail_days(con: duckdb.DuckDBPyConnection | None, cutoff: dt.date) -> dict[dt.date, int]:
    if con is None:
        return {}
    return detail_tier.rows_per_day(con, before=cutoff)


def _stats_current(con: duckdb.DuckDBPyConnection | None, day: dt.date) -> bool:
    return con is not None and aggregate.stats_current(con, day)


# --------------------------------------------------------------------------- sources

def content_sha256(path: Path) -> str:
    """SHA-256 of a file's decompressed content (the ingest ledger's content_sha256)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        stream, _ = lines.open_decompressed(handle)
        while block := stream.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _ledger_row(con: duckdb.DuckDBPyConnection, column: str, digest: str) -> tuple | None:
    """(file_id, last_ts, as_of, unread bytes) of the ledger row that read this content from
    its start. Unread bytes: a plain file's last line without its newline, which waits
    for the next run (pipelines.sources) and is neither parsed nor rejected yet."""
    rows = con.execute(f"select file_id, last_ts, as_of, "
                       "case when compression is null then size - content_end else 0 end "
                       f"from ingested_files where {column} = ? "
                       "and content_start = 0 order by file_id limit 1", [digest]).fetchall()
    return rows[0] if rows else None


def source_candidates(con: duckdb.DuckDBPyConnection | None, cfg: Config,
                      cutoff: dt.date) -> tuple[list[dict], list[str]]:
    """(files due for deletion, files never ingested in their current form).

    A file is due when its bytes, or its decompressed content, are in the ingest ledger and
    its newest parsed line (else, with none parsed, its ingest day) is before `cutoff`.
    """
    tz = zoneinfo.ZoneInfo(cfg.timezone)
    due, never = [], []
    seen: set[str] = set()
    for source in cfg.sources:
        for name in sorted(glob.glob(os.path.expanduser(source.path))):
            path = Path(name).absolute()
            if str(path) in seen or not path.is_file():
                continue
            seen.add(str(path))
            try:
                digest = lines.file_sha256(path)
                row = _ledger_row(con, "sha256", digest) if con is not None else None
                if row is None and con is not None:
                    row = _ledger_row(con, "content_sha256", content_sha256(path))
            except (OSError, EOFError):
                never.append(str(path))  # unreadable now: certainly not deleted
                continue
            # a last line not read yet (no newline) is not ingested: the file is kept
            if row is None or row[3] > 0:
                never.append(str(path))
                continue
            file_id, last_ts, as_of, _ = row
            last_day = (last_ts.replace(tzinfo=dt.UTC).astimezone(tz).date()
                        if last_ts is not None else as_of)
            if last_day < cutoff:
                st = path.stat()
                due.append({"path": str(path), "sha256": digest, "bytes": st.st_size,
                            "mtime_ns": st.st_mtime_ns, "last_day": last_day.isoformat(),
                            "file_id": file_id})
    return due, never


def _shown(path: str, cfg: Config) -> str:
    """A source path as recorded: address literals in folder names masked to the policy's
    prefixes (invariant 4), as the ingest ledger records them (ingest.shown_path)."""
    return mask_addresses(path, cfg.ipv4_prefix, cfg.ipv6_prefix)


# --------------------------------------------------------------------------- removal steps

def _partition_details(parts: list[Partition], hashes: bool) -> dict[str, Any]:
    listed = []
    for p in parts:
        files = []
        for f in p.files:
            item = dict(f)
            if hashes:
                item["sha256"] = lines.file_sha256(p.path / f["name"])
            files.append(item)
        listed.append({"name": p.relative, "day": p.day.isoformat(), "rows": p.rows,
                       "files": files})
    return {"partitions": listed, "count": len(parts),
            "files": sum(len(p.files) for p in parts), "rows": sum(p.rows for p in parts),
            "bytes": sum(f["bytes"] for p in parts for f in p.files)}


def _remove_partitions(con: duckdb.DuckDBPyConnection, cfg: Config, parts: list[Partition],
                       action: str, cutoff: dt.date, result: PurgeResult) -> None:
    if not parts:
        return
    batch = removal.begin(cfg.data_dir, action, cutoff, _partition_details(parts, hashes=True))
    for p in parts:
        removal.move_into(batch, p.path, p.relative)
    entry = ledger.record(con, cfg, action=action, result="removed", cutoff=cutoff,
                          details=batch.manifest["details"])
    removal.finish(batch)
    result.entries.append(entry.summary())


def _remove_detail(con: duckdb.DuckDBPyConnection, cfg: Config, days: dict[dt.date, int],
                   cutoff: dt.date, result: PurgeResult) -> None:
    if not days:
        return
    listed = sorted(days)
    details = {"days": [{"day": d.isoformat(), "rows": days[d]} for d in listed],
               "count": len(listed), "rows": sum(days.values()),
               "first_day": listed[0].isoformat(), "last_day": listed[-1].isoformat()}
    with warehouse.transaction(con):
        placeholders = ", ".join("?" for _ in listed)
        (deleted,) = con.execute(f"delete from {detail_tier.TABLE} where day in ({placeholders})",
                                 listed).fetchall()[0]
        files = [n for d in listed for n in detail_tier.listed(con, d)]
        deleted += detail_tier.unregister(con, files)
        if deleted != details["rows"]:
            raise WeblogError("DETAIL changed while it was being purged; nothing was deleted.")
        detail_tier.refresh_view(con, cfg.data_dir)
        entry = ledger.append(con, cfg, action="purge_detail", result="removed", cutoff=cutoff,
                              details=details)
    # the days' files are no longer DETAIL: delete them (a crash here: the next writer's
    # detail.sweep does)
    detail_tier.sweep(con, cfg.data_dir)
    result.problems += ledger.sync_mirror(con, cfg.data_dir)
    result.entries.append(entry.summary())


def _delete_sources(batch: removal.Batch, targets: list[dict], result: PurgeResult,
                    cfg: Config) -> list[dict]:
    """Delete source files still as they were hashed; return the ledger items of those gone."""
    removed = []
    for item in targets:
        path = Path(item["path"])
        try:
            st = path.stat()
            same = st.st_size == item["bytes"] and (
                st.st_mtime_ns == item.get("mtime_ns") or lines.file_sha256(path) == item["sha256"])
            if not same:
                result.kept.append({"what": "source", "name": _shown(str(path), cfg),
                                    "reason": "changed since it was checked; not deleted"})
                continue
            path.unlink()
        except FileNotFoundError:
            pass  # gone already (a killed run, or logrotate): gone is what the entry says
        except OSError as exc:
            result.kept.append({"what": "source", "name": _shown(str(path), cfg),
                                "reason": f"cannot be deleted ({exc.strerror or 'OS error'})"})
            continue
        removed.append({"path": _shown(str(path), cfg), "sha256": item["sha256"],
                        "bytes": item["bytes"], "last_day": item["last_day"],
                        "file_id": item["file_id"]})
    return removed


def _record_sources(con: duckdb.DuckDBPyConnection, cfg: Config, batch: removal.Batch,
                    removed: list[dict], result_text: str) -> ledger.Entry | None:
    entry = None
    if removed:
        entry = ledger.record(con, cfg, action="purge_source", result=result_text,
                              cutoff=dt.date.fromisoformat(batch.manifest["cutoff"]),
                              details={"files": removed, "count": len(removed),
                                       "bytes": sum(f["bytes"] for f in removed),
                                       "batch": batch.id})
    removal.finish(batch)
    return entry


def _remove_sources(con: duckdb.DuckDBPyConnection, cfg: Config, due: list[dict],
                    cutoff: dt.date, result: PurgeResult) -> None:
    if not due:
        return
    # the manifest lists real paths (to finish after a crash) and hashes; it is RAW-side
    batch = removal.begin(cfg.data_dir, "purge_source", cutoff, {"count": len(due)},
                          targets=due)
    entry = _record_sources(con, cfg, batch, _delete_sources(batch, due, result, cfg), "removed")
    if entry is not None:
        result.entries.append(entry.summary())


# --------------------------------------------------------------------------- recovery

def _move_listed(batch: removal.Batch, data_dir: Path) -> None:
    """Finish moving a batch's partitions (whole folders, or the listed files left)."""
    root = raw.raw_root(data_dir)
    for part in batch.manifest["details"].get("partitions", []):
        folder = root / part["name"]
        for f in part["files"]:
            source = folder / f["name"]
            if source.exists():
                removal.move_into(batch, source, f"{part['name']}/{f['name']}")
        if folder.is_dir() and not any(folder.rglob("*")):
            folder.rmdir()


def recover_batches(con: duckdb.DuckDBPyConnection, cfg: Config, result: PurgeResult) -> None:
    """Finish the removal batches a killed purge or erasure left (see pipelines.removal)."""
    from . import subjects

    recorded = {e.details.get("batch"): e for e in ledger.read_table(con)
                if e.details.get("batch")}
    removal.clear_strays(cfg.data_dir)
    for batch in removal.pending(cfg.data_dir):
        action = batch.manifest.get("action")
        done = recorded.get(batch.id)
        if not batch.manifest:
            removal.finish(batch)  # killed before its manifest: nothing was touched
            continue
        if action == "erase_subject":
            entry = subjects.finish_erasure(con, cfg, batch, recorded=done)
        elif done is not None:
            removal.finish(batch)
            entry = done
        elif action in ("purge_raw", "purge_rejects"):
            _move_listed(batch, cfg.data_dir)
            entry = ledger.record(con, cfg, action=action, result="removed after interruption",
                                  cutoff=dt.date.fromisoformat(batch.manifest["cutoff"]),
                                  details=batch.manifest["details"])
            removal.finish(batch)
        elif action == "purge_source":
            removed = _delete_sources(batch, batch.manifest.get("targets", []), result,
                                      cfg)
            entry = _record_sources(con, cfg, batch, removed, "removed after interruption")
        else:
            result.problems.append(f"Removal batch {batch.id} has an unknown action; left in "
                                   "place for inspection.")
            continue
        result.recovered.append({"batch": batch.id, "action": action,
                                 "sequence": entry.sequence if entry else None})
        if entry is not None and entry is not done:
            result.entries.append(entry.summary())


# --------------------------------------------------------------------------- statistics first

def _ensure_stats(con: duckdb.DuckDBPyConnection, cfg: Config, days: list[dt.date],
                  result: PurgeResult, dry_run: bool) -> set[dt.date]:
    """Aggregate stale days before their data goes; return the days that must be kept."""
    kept: set[dt.date] = set()
    for day in days:
        if _stats_current(con, day):
            continue
        if dry_run:
            result.aggregated.append(day.isoformat())
            continue
        try:
            done = aggregate.aggregate_days(con, cfg, [day])
        except WeblogError as exc:
            reason = f"statistics could not be computed: {exc}"
        else:
            if day.isoformat() in done.days:
                result.aggregated.append(day.isoformat())
            reason = done.skipped.get(day.isoformat(), "statistics are not current")
            if day.isoformat() in done.failed:
                reason = f"statistics could not be computed: {done.failed[day.isoformat()]}"
            if reason.startswith("no DETAIL rows"):
                reason = "no DETAIL rows to compute its statistics from"
        if not _stats_current(con, day):
            kept.add(day)
            result.kept.append({"what": "day", "name": day.isoformat(), "reason": reason})
    return kept


# --------------------------------------------------------------------------- the run

def _open(cfg: Config, dry_run: bool) -> duckdb.DuckDBPyConnection | None:
    if dry_run:
        if not warehouse.warehouse_path(cfg.data_dir).exists():
            return None
        return warehouse.connect(cfg.data_dir, read_only=True)
    raw.prepare(cfg.data_dir)
    return warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))


def _pending_dry(cfg: Config, con: duckdb.DuckDBPyConnection | None, result: PurgeResult) -> None:
    for batch in removal.pending(cfg.data_dir):
        result.recovered.append({"batch": batch.id, "action": batch.manifest.get("action"),
                                 "sequence": None})
    if con is not None and compact.needs_rewrite(con) is not None:
        result.rewrite = {"pending": True}


def rewrite_if_due(cfg: Config, result: PurgeResult, force_compression: str | None) -> None:
    """Rewrite the warehouse when the ledger has a deletion with no rewrite after it."""
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        after = compact.needs_rewrite(con)
    finally:
        con.close()
    compact.clear_leftover(cfg.data_dir)  # a rewrite killed before its swap
    if after is None:
        return
    done = compact.rewrite(cfg.data_dir, force_compression=force_compression)
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        entry = ledger.record(con, cfg, action="rewrite_warehouse", result="rewritten",
                              cutoff=None, details={**done, "after_sequence": after})
    finally:
        con.close()
    result.rewrite = done
    result.entries.append(entry.summary())


def purge_expired(cfg: Config, *, as_of: dt.date | str | None = None, dry_run: bool = False,
                  force_compression: str | None = None) -> PurgeResult:
    """Purge (or, with dry_run, list) everything past its retention window as of `as_of`.

    `force_compression` is passed to the warehouse rewrite (tests: 'uncompressed').
    """
    started = time.perf_counter()
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    raw_cutoff = retention.raw_window_start(as_of, cfg.raw_days)
    detail_cutoff = retention.window_start(as_of, cfg.detail_days)
    result = PurgeResult(as_of.isoformat(), dry_run, raw_cutoff.isoformat(),
                         detail_cutoff.isoformat(), sources_enabled=cfg.purge_source_logs)
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="purge"):
        con = _open(cfg, dry_run)
        try:
            if dry_run:
                _pending_dry(cfg, con, result)
            else:
                from .ingest import recover as recover_ingest

                recover_ingest(con, cfg.data_dir)
                result.problems += ledger.sync_mirror(con, cfg.data_dir)
                recover_batches(con, cfg, result)
            raw_parts, reject_parts = expired_partitions(cfg.data_dir, raw_cutoff)
            detail = _detail_days(con, detail_cutoff)
            days = sorted({p.day for p in raw_parts} | set(detail))
            kept = _ensure_stats(con, cfg, days, result, dry_run)
            raw_parts = [p for p in raw_parts if p.day not in kept]
            detail = {d: n for d, n in detail.items() if d not in kept}
            result.raw = [p.summary(names=dry_run) for p in raw_parts]
            result.rejects = [p.summary(names=dry_run) for p in reject_parts]
            if detail:
                result.detail = {"rows": sum(detail.values()), "days": len(detail),
                                 "first_day": min(detail).isoformat(),
                                 "last_day": max(detail).isoformat()}
            due: list[dict] = []
            if cfg.purge_source_logs:
                due, never = source_candidates(con, cfg, raw_cutoff)
                result.sources = [{"name": _shown(f["path"], cfg), "bytes": f["bytes"],
                                   "last_day": f["last_day"]} for f in due]
                result.sources_never_ingested = [_shown(p, cfg) for p in never]
            if not dry_run:
                assert con is not None
                _remove_partitions(con, cfg, raw_parts, "purge_raw", raw_cutoff, result)
                _remove_partitions(con, cfg, reject_parts, "purge_rejects", raw_cutoff, result)
                _remove_detail(con, cfg, detail, detail_cutoff, result)
                _remove_sources(con, cfg, due, raw_cutoff, result)
        finally:
            if con is not None:
                con.close()
        if not dry_run:
            rewrite_if_due(cfg, result, force_compression)
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- text

def _size(n: int) -> str:
    from .audit import size

    return size(n)


def render_text(r: PurgeResult, raw_days: int, detail_days: int) -> list[str]:
    """The purge receipt (or dry-run plan) as lines for a terminal."""
    verb = "would remove" if r.dry_run else "removed"
    out = [("Dry run, nothing changed. " if r.dry_run else "")
           + f"Purge as of {r.as_of}: RAW and rejects before {r.raw_cutoff} (raw_days "
           f"{raw_days}), DETAIL before {r.detail_cutoff} (detail_days {detail_days})."]
    for item in r.recovered:
        out.append(f"Interrupted run: batch {item['batch']} ({item['action']}) "
                   + ("would be finished." if r.dry_run else
                      f"finished (ledger entry {item['sequence']})."))
    if r.aggregated:
        out.append(f"Statistics {'to compute' if r.dry_run else 'computed'} first for "
                   f"{len(r.aggregated)} stale day(s): {', '.join(r.aggregated)}"
                   + (" (a day whose statistics fail is kept)." if r.dry_run else "."))
    for title, parts in (("RAW", r.raw), ("Rejects", r.rejects)):
        if not parts:
            out.append(f"{title}: nothing before the cutoff.")
            continue
        files = sum(p["files"] for p in parts)
        rows = sum(p["rows"] for p in parts)
        out.append(f"{title}: {verb} {len(parts)} day partition(s), {files:,} files, "
                   f"{rows:,} rows:")
        for p in parts:
            names = f": {', '.join(p['file_names'])}" if p.get("file_names") else ""
            out.append(f"  {p['name']}  {p['files']} file(s), {p['rows']:,} rows{names}")
    if r.detail:
        d = r.detail
        out.append(f"DETAIL: {verb} {d['rows']:,} rows of {d['days']} day(s), "
                   f"{d['first_day']} .. {d['last_day']}.")
    else:
        out.append("DETAIL: nothing before the cutoff.")
    if not r.sources_enabled:
        out.append("Source logs: kept (retention.purge_source_logs = false).")
    else:
        out.append(f"Source logs: {verb} {len(r.sources)} file(s)"
                   + (":" if r.sources else "."))
        out += [f"  {s['name']}  {_size(s['bytes'])}, newest line {s['last_day']}"
                for s in r.sources]
        for name in r.sources_never_ingested:
            out.append(f"  kept, never ingested in its current form: {name}")
    for k in r.kept:
        out.append(f"Kept {k['what']} {k['name']}: {k['reason']}")
    if r.rewrite and r.rewrite.get("pending"):
        out.append("Warehouse: a rewrite is due (rows deleted earlier remain in its bytes).")
    elif r.rewrite:
        out.append(f"Warehouse rewritten into a fresh file: {_size(r.rewrite['bytes_before'])} "
                   f"-> {_size(r.rewrite['bytes_after'])}.")
    for e in r.entries:
        out.append(f"Ledger entry {e['sequence']} {e['action']} ({e['result']}): {e['hash']}")
    out += [f"Problem: {p}" for p in r.problems]
    if not r.dry_run and not r.removed_anything and not r.entries:
        out.append("Nothing was past its retention window.")
    return out

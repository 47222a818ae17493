"""`weblog audit verify`: one command that checks the retention promises, PASS or FAIL.

Four checks, each with evidence that says what and where but never shows a personal
value (addresses as their network, host names with the first label withheld):

1. ledger      the hash chain of `purge_ledger` and of DATA_DIR/audit/ledger.jsonl is
               intact and the two copies agree entry by entry (pipelines.ledger); with
               `anchor`, an entry with that hash (kept from an earlier report) is still there;
2. retention   no RAW or rejects day partition before the RAW cutoff, no DETAIL row before
               the DETAIL cutoff, no deletion still waiting for the warehouse rewrite, no
               data left by an interrupted run in raw/ (.purging, .staging, .spool, .tmp), no
               unmanaged file in raw/, and no RAW-like Parquet file (RAW or rejects columns)
               anywhere else under DATA_DIR;
3. leaks       no full address or client host name outside RAW (pipelines.leaks): every
               textual column of every table of the warehouse; every file under DATA_DIR
               outside raw/ (Parquet and DuckDB files opened and their columns read, SQLite
               databases row by row, anything else as decompressed text) except source logs
               (files the [[sources]] globs match, or whose bytes are in the ingest ledger);
               and Prefect's home (pipelines.prefect_home.iter_texts: every SQLite row, every
               file, base64 pickles decoded), plus its SQLite database when
               PREFECT_API_DATABASE_CONNECTION_URL puts it elsewhere;
4. permissions raw/ and everything in it is owner-only (no group or other bits).

The verdict is also written to DATA_DIR/audit/verify-latest.json (no personal data), for
the dashboard and for monitoring. Verification writes nothing else: the warehouse is
opened read-only (under the data-dir lock, so no run changes things meanwhile).
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from . import compact, detail, ledger, leaks, lines, raw, removal, retention, warehouse
from .config import Config
from .lock import LOCK_NAME, data_dir_lock
from .prefect_home import iter_texts, prefect_home

EVIDENCE_LIMIT = 50
LATEST_NAME = "verify-latest.json"
RAW_MANAGED = {"rejects", ".staging", ".tmp", ".spool", ".purging"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DB_URL_VARS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


@dataclass
class Check:
    name: str
    title: str
    passed: bool
    summary: str
    evidence: list[str] = field(default_factory=list)  # at most EVIDENCE_LIMIT
    evidence_total: int = 0
    counts: dict = field(default_factory=dict)


@dataclass
class Verdict:
    passed: bool
    as_of: str
    checked_at: str  # UTC
    raw_cutoff: str
    detail_cutoff: str
    ledger_entries: int
    ledger_head: str
    checks: list[Check]
    seconds: float

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, **asdict(self)}


def _check(name: str, title: str, evidence: list[str], ok_summary: str, fail_summary: str,
           counts: dict | None = None) -> Check:
    return Check(name, title, not evidence, fail_summary if evidence else ok_summary,
                 evidence[:EVIDENCE_LIMIT], len(evidence), counts or {})


def latest_path(data_dir: Path) -> Path:
    return ledger.audit_dir(data_dir) / LATEST_NAME


# --------------------------------------------------------------------------- 1. ledger

def check_ledger(con: duckdb.DuckDBPyConnection | None, data_dir: Path,
                 anchor: str | None) -> tuple[Check, ledger.LedgerCheck]:
    if con is None:
        mirror, problems = ledger.read_mirror(data_dir)
        result = ledger.LedgerCheck(len(mirror), mirror[-1].hash if mirror else ledger.GENESIS,
                                    problems + ledger.check_chain(mirror, "ledger.jsonl"))
        if mirror:
            result.problems.append("ledger.jsonl has entries but there is no warehouse")
    else:
        result = ledger.verify_ledger(con, data_dir, anchor)
    check = _check("ledger", "Deletion ledger: hash chain intact, JSONL mirror equal",
                   result.problems,
                   f"{result.entries} entries, chain intact, mirror equal; head {result.head}",
                   "the ledger was changed or its copies differ")
    check.counts = {"entries": result.entries}
    return check, result


# --------------------------------------------------------------------------- 2. retention

def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _raw_layout(data_dir: Path, cutoff: dt.date) -> list[str]:
    evidence = []
    root = raw.raw_root(data_dir)
    for kind, parts in (("RAW", raw.raw_days(data_dir)), ("rejects", raw.reject_days(data_dir))):
        for day, folder in parts.items():
            if day < cutoff:
                n = len(_files_under(folder))
                evidence.append(f"{folder.relative_to(data_dir)}: {kind} partition of {day}, "
                                f"before the cutoff {cutoff} ({n} files; `weblog purge` "
                                "deletes it)")
    leftovers = {".purging": "an interrupted purge or erasure (run `weblog purge`)",
                 ".staging": "an interrupted ingest (run `weblog purge` or `weblog ingest`)",
                 ".spool": "an interrupted ingest from stdin", ".tmp": "a killed DuckDB process"}
    for name, why in leftovers.items():
        files = _files_under(root / name)
        if files:
            evidence.append(f"raw/{name}: {len(files)} files left by {why}")
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name not in RAW_MANAGED and raw.partition_day(child.name) is None:
                evidence.append(f"raw/{child.name}: not a RAW day partition, never purged")
        for folder in [*raw.raw_days(data_dir).values(), *raw.reject_days(data_dir).values()]:
            for f in _files_under(folder):
                if f.suffix != ".parquet":
                    evidence.append(f"{f.relative_to(data_dir)}: not a RAW Parquet file")
    return evidence


def _warehouse_retention(con: duckdb.DuckDBPyConnection | None, data_dir: Path,
                         cutoff: dt.date) -> list[str]:
    if con is None:
        return []
    evidence = []
    n, first = con.execute("select count(*), min(day) from requests where day < ?",
                           [cutoff]).fetchall()[0]
    if n:
        evidence.append(f"warehouse.duckdb: requests has {n} DETAIL rows before the DETAIL "
                        f"cutoff {cutoff} (from {first}; an ingest of old logs stores "
                        "them until `weblog purge`, which the nightly run does, deletes them)")
    left = detail.unlisted(con, data_dir)
    if left:
        evidence.append(f"detail/: {len(left)} files no transaction lists as DETAIL, left by "
                        f"an interrupted run (e.g. {detail.relative(left[0], data_dir)}; run "
                        "`weblog purge`)")
    pending = compact.needs_rewrite(con)
    if pending is not None:
        evidence.append(f"warehouse.duckdb: rows deleted by ledger entry {pending} may remain "
                        "in the file's bytes until it is rewritten (run `weblog purge`)")
    return evidence


# --------------------------------------------------------------------------- 3. leaks

@dataclass
class FileScan:
    findings: list[leaks.Finding] = field(default_factory=list)
    raw_like: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    files: int = 0
    source_logs: int = 0


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head[8:12] == b"DUCK":
        return "duckdb"
    if head == _SQLITE_MAGIC:
        return "sqlite"
    return "text"


def _source_logs(con: duckdb.DuckDBPyConnection | None, cfg: Config) -> tuple[set[str], dict]:
    """Paths the [[sources]] globs match, and {size: {sha256}} of ingested files."""
    matched = {str(Path(p).resolve()) for s in cfg.sources
               for p in glob.glob(os.path.expanduser(s.path))}
    sizes: dict[int, set[str]] = {}
    if con is not None:
        for size, digest in con.execute("select size, sha256 from ingested_files").fetchall():
            sizes.setdefault(size, set()).add(digest)
    return matched, sizes


def _walk(data_dir: Path, skip: set[Path]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(data_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in skip)
        for name in sorted(filenames):
            path = here / name
            if path.resolve() not in skip and path.is_file():
                yield path


def scan_data_dir(cfg: Config, con: duckdb.DuckDBPyConnection | None,
                  scanner: leaks.Scanner, home: Path) -> FileScan:
    """Every file under DATA_DIR outside raw/, Prefect's home and the warehouse itself, and
    the files DETAIL lists (scanned through the view `requests`, all files at once)."""
    data_dir = Path(cfg.data_dir)
    skip = {p.resolve() for p in (raw.raw_root(data_dir), home,
                                  warehouse.warehouse_path(data_dir), data_dir / LOCK_NAME)}
    if con is not None:
        skip |= {(data_dir / name).resolve() for name in detail.listed(con)}
    matched, sizes = _source_logs(con, cfg)
    out = FileScan()
    reader = duckdb.connect()
    try:
        for path in _walk(data_dir, skip):
            label = str(path.relative_to(data_dir))
            size = path.stat().st_size
            if str(path.resolve()) in matched or (
                    size in sizes and lines.file_sha256(path) in sizes[size]):
                out.source_logs += 1
                continue
            out.files += 1
            try:
                out.findings += _scan_one(reader, path, label, scanner, out)
            except (OSError, duckdb.Error) as exc:
                out.unreadable.append(f"{label}: cannot be read to check it "
                                      f"({type(exc).__name__})")
    finally:
        reader.close()
    return out


def _scan_one(reader: duckdb.DuckDBPyConnection, path: Path, label: str,
              scanner: leaks.Scanner, out: FileScan) -> list[leaks.Finding]:
    kind = _kind(path)
    if kind == "parquet":
        columns = {c for c, _ in leaks.parquet_columns(reader, path)}
        if columns & leaks.RAW_COLUMNS or leaks.REJECT_COLUMNS <= columns:
            out.raw_like.append(f"{label}: a Parquet file with RAW columns outside raw/ "
                                "(never purged)")
        return leaks.scan_parquet(reader, path, scanner, label)
    if kind == "duckdb":
        alias = "weblog_scan"
        reader.execute(f"attach '{path.as_posix()}' as {alias} (read_only)")
        try:
            return leaks.scan_duckdb(reader, alias, scanner, label)
        finally:
            reader.execute(f"detach {alias}")
    if kind == "sqlite":
        return leaks.scan_texts(iter_texts(path.parent / ".weblog-none", [path]), scanner)
    return leaks.scan_file(path, scanner, label)


def prefect_databases(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Prefect's SQLite database when the environment puts it outside its home."""
    out = []
    for var in _DB_URL_VARS:
        url = environ.get(var, "")
        if url.startswith("sqlite") and ":///" in url:
            path = Path(url.split(":///", 1)[1].split("?", 1)[0]).expanduser()
            if path.is_file():
                out.append(path)
    return out


def _prefect_findings(home: Path, databases: list[Path], scanner: leaks.Scanner) -> list[leaks.Finding]:
    found = leaks.scan_texts(iter_texts(home, databases), scanner)
    prefix = str(home) + os.sep
    return [leaks.Finding("Prefect home: " + f.where.replace(prefix, ""), f.kind, f.masked)
            for f in found]


# --------------------------------------------------------------------------- 4. permissions

def check_permissions(data_dir: Path) -> Check:
    root = raw.raw_root(data_dir)
    evidence = []
    checked = 0
    if root.exists():
        for dirpath, dirnames, filenames in os.walk(root):
            for path in [Path(dirpath), *(Path(dirpath) / f for f in filenames)]:
                checked += 1
                mode = path.lstat().st_mode & 0o777
                if mode & 0o077:
                    evidence.append(f"{path.relative_to(data_dir)}: mode {mode:04o} "
                                    "(group or others have access)")
    return _check("permissions", "RAW is readable by its owner only", evidence,
                  f"{checked} folders and files under raw/ are owner-only" if checked
                  else "no RAW tier yet", "RAW files or folders are open to others",
                  {"checked": checked})


# --------------------------------------------------------------------------- the run

def _open(data_dir: Path) -> duckdb.DuckDBPyConnection | None:
    if not warehouse.warehouse_path(data_dir).exists():
        return None
    return warehouse.connect(data_dir, read_only=True)


def verify_retention(cfg: Config, *, as_of: dt.date | str | None = None,
                     anchor: str | None = None, extra_databases: list[Path] | None = None,
                     write_latest: bool = True) -> Verdict:
    """Run the four checks as of `as_of`; write the verdict to audit/verify-latest.json."""
    started = time.perf_counter()
    data_dir = Path(cfg.data_dir)
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    raw_cutoff = retention.raw_window_start(as_of, cfg.raw_days)
    detail_cutoff = retention.window_start(as_of, cfg.detail_days)
    home = prefect_home(data_dir)
    with data_dir_lock(data_dir, wait_seconds=cfg.lock_wait_seconds, what="verify"):
        con = _open(data_dir)
        try:
            ledger_check, chain = check_ledger(con, data_dir, anchor)
            needles = leaks.raw_needles(data_dir, cfg.ipv4_prefix, cfg.ipv6_prefix)
            addresses, hostnames = needles.addresses, needles.hostnames
            scanner = leaks.Scanner(cfg.ipv4_prefix, cfg.ipv6_prefix, addresses, hostnames)
            found: list[leaks.Finding] = []
            if con is not None:
                (name,) = con.execute("select current_database()").fetchall()[0]
                found += leaks.scan_duckdb(con, name, scanner, "warehouse.duckdb")
                if detail.migrated(con):  # DETAIL's listed files, through their view
                    found += leaks.scan_relation(con, detail.VIEW, scanner, "warehouse.duckdb")
            files = scan_data_dir(cfg, con, scanner, home)
            found += files.findings
            dbs = [*prefect_databases(), *(extra_databases or [])]
            found += _prefect_findings(home, dbs, scanner)
            retention_evidence = (_raw_layout(data_dir, raw_cutoff)
                                  + _warehouse_retention(con, data_dir, detail_cutoff)
                                  + files.raw_like)
        finally:
            if con is not None:
                con.close()
        checks = [
            ledger_check,
            _check("retention", "Nothing kept past its retention window", retention_evidence,
                   f"no RAW or rejects partition before {raw_cutoff}, no DETAIL row before "
                   f"{detail_cutoff}, nothing left by an interrupted run",
                   "data past its retention window is still stored"),
            _check("leaks", "No full address or client host name outside RAW",
                   [str(f) for f in sorted(set(found))] + files.unreadable
                   + [f"{p.relative_to(data_dir)}: RAW file cannot be read, so its addresses "
                      "and host names could not be looked for elsewhere"
                      for p in needles.unreadable],
                   f"warehouse, {files.files} files under the data folder and Prefect's home "
                   f"scanned against {len(addresses)} addresses and {len(hostnames)} host "
                   f"names in RAW ({files.source_logs} source logs not scanned)",
                   "full addresses or client host names were found outside RAW",
                   {"needle_addresses": len(addresses), "needle_hostnames": len(hostnames),
                    "files": files.files, "source_logs": files.source_logs}),
            check_permissions(data_dir),
        ]
        verdict = Verdict(all(c.passed for c in checks), as_of.isoformat(),
                          dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          raw_cutoff.isoformat(), detail_cutoff.isoformat(), chain.entries,
                          chain.head, checks, round(time.perf_counter() - started, 3))
        if write_latest:
            path = latest_path(data_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            removal.write_json(path, verdict.to_dict())
    return verdict


def read_latest(data_dir: Path) -> dict | None:
    """The last verdict written (for dashboards), or None."""
    try:
        return json.loads(latest_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def render_text(v: Verdict) -> list[str]:
    out = [f"weblog audit verify as of {v.as_of}: {v.verdict}"]
    for c in v.checks:
        out.append(f"  [{'PASS' if c.passed else 'FAIL'}] {c.name:<12} {c.summary}")
        for e in c.evidence:
            out.append(f"         - {e}")
        if c.evidence_total > len(c.evidence):
            out.append(f"         ... and {c.evidence_total - len(c.evidence)} more")
    return out

"""The deletion ledger: append-only, hash-chained, in the warehouse and mirrored in JSONL.

Every purge step, data-subject erasure and warehouse rewrite appends one entry to the
table `purge_ledger` (sql/schema/005_purge_ledger.sql) and, right after the commit, the
same entry as one line to DATA_DIR/audit/ledger.jsonl. An entry is

    sequence, recorded_at (UTC), action, result, cutoff, operator (user@machine),
    policy (retention policy in force + Config.policy_hash()), details (what was removed:
    partition and file names, SHA-256 of removed files, row counts), prev_hash, hash

with hash = SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of every other
field, and prev_hash the hash of the entry before (64 zeros for the first). Editing an
entry changes its hash; removing, inserting or reordering one breaks the prev_hash chain
or the gapless sequence; an entry added to only one of the two copies shows as a
difference between them. Deleting the newest entries from both copies is the one change
the chain cannot show by itself: auditors keep the chain head hash from `weblog audit
report` and pass it to `weblog audit verify --anchor HASH` next time.

Append-only as far as DuckDB allows: it has no triggers or grants, so nothing stops a
process with write access from an UPDATE; weblog's code only ever INSERTs here (and the
warehouse rewrite copies the table unchanged), and `verify_ledger` detects any change.

Crash safety: the table is the primary copy. An entry is committed first (in the same
transaction as the deletion it records, where that deletion is in the warehouse), then
written to the mirror with fsync. A crash in between leaves the table one entry ahead, or
the mirror's last line torn; `sync_mirror`, run before every purge and erasure, completes
exactly that and nothing else: a mirror that differs in any other way is never rewritten
(it is evidence) and verification fails until someone looks.

No personal data goes in: callers record names, hashes, dates and counts only, and every
string is checked for address literals when the entry is built (`_assert_no_addresses`).
"""
from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from .anonymize import find_leaks
from .config import Config
from .errors import WeblogError

GENESIS = "0" * 64
TABLE = "purge_ledger"
ACTIONS = ("purge_raw", "purge_rejects", "purge_detail", "purge_source", "erase_subject",
           "rewrite_warehouse")
FIELDS = ("sequence", "recorded_at", "action", "result", "cutoff", "operator", "policy",
          "details", "prev_hash", "hash")


def audit_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "audit"


def mirror_path(data_dir: Path) -> Path:
    return audit_dir(data_dir) / "ledger.jsonl"


# --------------------------------------------------------------------------- entries

def canonical(value: Any) -> str:
    """The canonical JSON text hashed and mirrored (no floats: their text is not unique)."""
    _assert_plain(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _assert_plain(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("ledger entries hold integers and strings, not floats")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("ledger keys are strings")
            _assert_plain(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _assert_plain(v)
    elif value is not None and not isinstance(value, (str, int, bool)):
        raise TypeError(f"ledger values are JSON scalars, not {type(value).__name__}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _assert_no_addresses(value: Any) -> None:
    """A last guard: an address literal in an entry is a bug in the caller (invariant 4)."""
    for text in _strings(value):
        if find_leaks(text):
            raise WeblogError("A ledger entry would hold an address literal; it was not "
                              "written (this is a bug: entries hold names and counts only).")


@dataclass(frozen=True)
class Entry:
    sequence: int
    recorded_at: str  # 'YYYY-MM-DDTHH:MM:SS.ffffffZ', UTC
    action: str
    result: str
    cutoff: str | None  # 'YYYY-MM-DD'
    operator: str
    policy: dict
    details: dict
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field but the hash: what the hash covers."""
        out = asdict(self)
        out.pop("hash")
        return out

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical(self.body()).encode("ascii")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The entry as one line of the JSONL mirror."""
        return canonical(self.to_dict()) + "\n"

    def summary(self) -> dict[str, Any]:
        """Sequence, action, counts and hash: the receipt line of one entry."""
        d = self.details
        return {"sequence": self.sequence, "action": self.action, "result": self.result,
                "cutoff": self.cutoff, "count": d.get("count"), "rows": d.get("rows"),
                "hash": self.hash}


def _stamp(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def policy_of(cfg: Config) -> dict[str, Any]:
    """The retention policy an entry was written under (no paths, no sources)."""
    return {**cfg.policy(), "purge_source_logs": cfg.purge_source_logs,
            "policy_hash": cfg.policy_hash()}


def operator() -> str:
    """Who ran the command: the login name and this machine's name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def make_entry(sequence: int, prev_hash: str, *, action: str, result: str,
               cutoff: dt.date | None, policy: dict, details: dict, who: str,
               now: dt.datetime) -> Entry:
    if action not in ACTIONS:
        raise ValueError(f"unknown ledger action {action!r}")
    body = {"sequence": sequence, "recorded_at": _stamp(now), "action": action,
            "result": result, "cutoff": cutoff.isoformat() if cutoff else None,
            "operator": who, "policy": policy, "details": details, "prev_hash": prev_hash}
    _assert_plain(body)
    _assert_no_addresses({"details": details, "result": result})
    digest = hashlib.sha256(canonical(body).encode("ascii")).hexdigest()
    return Entry(**body, hash=digest)


# --------------------------------------------------------------------------- the table

def table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = ?", [TABLE]).fetchall()[0][0])


def _from_row(row: tuple) -> Entry:
    seq, at, action, result, cutoff, who, policy, details, prev, digest = row
    return Entry(seq, _stamp(at), action, result, cutoff.isoformat() if cutoff else None, who,
                 json.loads(policy), json.loads(details), prev, digest)


def read_table(con: duckdb.DuckDBPyConnection) -> list[Entry]:
    """Every entry of `purge_ledger`, by sequence ([] before the table exists)."""
    if not table_exists(con):
        return []
    rows = con.execute(f"select {', '.join(FIELDS)} from {TABLE} order by sequence").fetchall()
    return [_from_row(r) for r in rows]


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """(sequence, hash) of the newest entry; (0, GENESIS) for an empty ledger."""
    rows = con.execute(f"select sequence, hash from {TABLE} order by sequence desc limit 1"
                       ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)


def append(con: duckdb.DuckDBPyConnection, cfg: Config, *, action: str, result: str,
           cutoff: dt.date | None, details: dict, now: dt.datetime | None = None) -> Entry:
    """Insert the next entry (inside the caller's transaction, if any). Call `sync_mirror`
    after the commit. The caller holds the data-dir lock, so sequences cannot race."""
    sequence, prev = head(con)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    entry = make_entry(sequence + 1, prev, action=action, result=result, cutoff=cutoff,
                       policy=policy_of(cfg), details=details, who=operator(), now=now)
    con.execute(f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        entry.sequence, now, entry.action, entry.result, entry.cutoff, entry.operator,
        canonical(entry.policy), canonical(entry.details), entry.prev_hash, entry.hash])
    return entry


def record(con: duckdb.DuckDBPyConnection, cfg: Config, **kwargs: Any) -> Entry:
    """Append one entry in its own transaction and mirror it."""
    con.execute("begin transaction")
    try:
        entry = append(con, cfg, **kwargs)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    sync_mirror(con, cfg.data_dir)
    return entry


# --------------------------------------------------------------------------- the mirror

def read_mirror(data_dir: Path) -> tuple[list[Entry], list[str]]:
    """Entries of ledger.jsonl in file order, and a problem per unreadable line."""
    path = mirror_path(data_dir)
    if not path.exists():
        return [], []
    entries, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            doc = json.loads(line)
            entries.append(Entry(**{k: doc[k] for k in FIELDS}))
            if set(doc) != set(FIELDS):
                problems.append(f"ledger.jsonl line {n} has fields other than an entry's")
        except (ValueError, KeyError, TypeError):
            problems.append(f"ledger.jsonl line {n} is not a ledger entry")
    return entries, problems


def _fsync_append(path: Path, text: str) -> None:
    with open(path, "a", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def sync_mirror(con: duckdb.DuckDBPyConnection, data_dir: Path) -> list[str]:
    """Bring ledger.jsonl up to the table after a crash; [] when they now agree.

    Completes only what a crash can leave: the table's newest entry missing from the
    mirror, possibly with a torn (partial) last line. Anything else is reported, and the
    mirror is left as it is.
    """
    table = read_table(con)
    path = mirror_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes() if path.exists() else b""
    cut = data.rfind(b"\n") + 1
    complete, partial = data[:cut], data[cut:]
    lines = complete.decode("ascii", errors="replace").splitlines()
    if len(lines) > len(table):
        return [f"ledger.jsonl has {len(lines)} entries, purge_ledger {len(table)}"]
    for n, line in enumerate(lines):
        if line + "\n" != table[n].line():
            return [f"ledger.jsonl line {n + 1} differs from purge_ledger entry "
                    f"{table[n].sequence}"]
    missing = table[len(lines):]
    if len(missing) > 1:
        return [f"ledger.jsonl lacks purge_ledger entries {missing[0].sequence}.."
                f"{missing[-1].sequence} (a crash leaves at most one)"]
    if partial:
        if not (missing and missing[0].line().encode("ascii").startswith(partial)):
            return ["ledger.jsonl ends with a partial line that is no ledger entry"]
        with open(path, "r+b") as f:
            f.truncate(cut)
    if missing:
        _fsync_append(path, missing[0].line())
    return []


# --------------------------------------------------------------------------- checking

def check_chain(entries: list[Entry], store: str) -> list[str]:
    """Problems of one copy read in its stored order: hashes, links, sequence."""
    problems = []
    prev = GENESIS
    for position, e in enumerate(entries, 1):
        if e.sequence != position:
            problems.append(f"{store}: entry {e.sequence} is at position {position} "
                            "(entries removed, inserted or reordered)")
        if e.computed_hash() != e.hash:
            problems.append(f"{store}: entry {e.sequence} ({e.action}) does not match its "
                            "hash (edited)")
        if e.prev_hash != prev:
            problems.append(f"{store}: entry {e.sequence} does not link to the entry before "
                            "it (prev_hash differs: an entry was removed, inserted or reordered)")
        prev = e.hash
    return problems


def compare_copies(table: list[Entry], mirror: list[Entry]) -> list[str]:
    """Where purge_ledger and ledger.jsonl differ, entry by entry."""
    problems = []
    by_seq = {e.sequence: e for e in mirror}
    in_table = {e.sequence for e in table}
    for e in table:
        other = by_seq.get(e.sequence)
        if other is None:
            problems.append(f"entry {e.sequence} ({e.action}) is in purge_ledger but not in "
                            "ledger.jsonl")
        elif other != e:
            fields = [f for f in FIELDS if getattr(other, f) != getattr(e, f)]
            problems.append(f"entry {e.sequence} differs between purge_ledger and "
                            f"ledger.jsonl ({', '.join(fields)})")
    for e in mirror:
        if e.sequence not in in_table:
            problems.append(f"entry {e.sequence} ({e.action}) is in ledger.jsonl but not in "
                            "purge_ledger")
    return problems


@dataclass
class LedgerCheck:
    entries: int
    head: str
    problems: list[str]


def verify_ledger(con: duckdb.DuckDBPyConnection, data_dir: Path,
                  anchor: str | None = None) -> LedgerCheck:
    """Both copies' chains, their agreement, and (optionally) an anchor hash kept earlier."""
    table = read_table(con)
    mirror, problems = read_mirror(data_dir)
    problems = problems + check_chain(table, "purge_ledger") + check_chain(mirror, "ledger.jsonl")
    problems += compare_copies(table, mirror)
    if anchor:
        if not any(e.hash == anchor.lower() for e in table):
            problems.append(f"the anchor {anchor[:16]}... kept from an earlier report is not "
                            "in the ledger (entries up to it were changed or removed)")
    return LedgerCheck(len(table), table[-1].hash if table else GENESIS, problems)

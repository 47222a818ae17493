"""pipelines.purge killed at any point: a rerun finishes the job, records each removal
exactly once, and leaves the ledger consistent with the disk.

A purge runs in a subprocess that SIGKILLs itself at the N-th step: before or after
each rename, unlink, tree removal, ledger insert (committed or not), mirror sync and
warehouse rewrite (the steps are counted by wrapping those functions in the child;
the code under test is unchanged). The purge covers every kind of removal: RAW day
partitions, rejects, DETAIL rows with the warehouse rewrite, and source logs.
"""
from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipelines import ledger, raw, removal, warehouse
from pipelines.purge import purge_expired
from pipelines.verify import verify_retention
from retention_site import copy, query, retention_site  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 23)  # RAW cutoff 11-16: everything in RAW and rejects goes
CHILD = """
import datetime as dt, os, shutil, signal, sys
from pipelines import compact, ledger
from pipelines.config import load_config
from pipelines.purge import purge_expired
kill_at = int(sys.argv[1]); events = []
def step(name):
    events.append(name)
    if len(events) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
def around(owner, attr):
    real = getattr(owner, attr)
    def wrapped(*a, **k):
        step(f"before {attr}"); out = real(*a, **k); step(f"after {attr}"); return out
    setattr(owner, attr, wrapped)
for owner, attr in ((os, "replace"), (os, "unlink"), (shutil, "rmtree"), (ledger, "append"),
                    (ledger, "sync_mirror"), (compact, "rewrite")):
    around(owner, attr)
purge_expired(load_config(sys.argv[2]), as_of=dt.date.fromisoformat(sys.argv[3]))
print("\\n".join(events))
"""
EXTRA = "purge_source_logs = true\n"


def _run(config: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(kill_at), str(config),
                           AS_OF.isoformat()], capture_output=True, text=True, cwd=REPO,
                          timeout=300)


def _entries(cfg) -> list[ledger.Entry]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return ledger.read_table(con)
    finally:
        con.close()


def _removed(entries: list[ledger.Entry]) -> dict[str, list[str]]:
    """Everything the ledger says was removed, by kind (duplicates kept, to count them)."""
    out: dict[str, list[str]] = {"purge_raw": [], "purge_rejects": [], "purge_detail": [],
                                 "purge_source": []}
    for e in entries:
        if e.action in ("purge_raw", "purge_rejects"):
            out[e.action] += [f"{p['name']}/{f['name']}" for p in e.details["partitions"]
                              for f in p["files"]]
        elif e.action == "purge_detail":
            out[e.action] += [f"{d['day']}:{d['rows']}" for d in e.details["days"]]
        elif e.action == "purge_source":
            out[e.action] += [Path(f["path"]).name for f in e.details["files"]]
    return out


@pytest.fixture(scope="module")
def reference(retention_site, tmp_path_factory):
    """An uninterrupted run: its steps (to choose kill points) and what it removed."""
    cfg = copy(retention_site, tmp_path_factory.mktemp("reference") / "s", extra=EXTRA)
    run = _run(cfg.config_file, 0)
    assert run.returncode == 0, run.stderr
    entries = _entries(cfg)
    assert [e.action for e in entries] == ["purge_raw", "purge_rejects", "purge_detail",
                                           "purge_source", "rewrite_warehouse"]
    return run.stdout.splitlines(), _removed(entries), query(cfg, "select count(*) from requests")


def _nth(events: list[str], name: str, n: int, after: int = 0) -> int:
    """1-based index of the n-th (0-based) event called `name` after index `after`."""
    hits = [i for i, e in enumerate(events, 1) if e == name and i > after]
    return hits[n]


def _kill_points(events: list[str]) -> dict[str, int]:
    ev = [e.replace(" ", "_", 1) for e in events]
    source_manifest = _nth(ev, "after_replace", 10)
    return {
        "manifest written, nothing moved": _nth(ev, "after_replace", 0),
        "three of seven partitions moved": _nth(ev, "after_replace", 3),
        "RAW entry inserted, not committed": _nth(ev, "after_append", 0),
        "RAW entry committed, not mirrored": _nth(ev, "before_sync_mirror", 1),
        "batch folder half deleted": _nth(ev, "after_unlink", 0, _nth(ev, "before_rmtree", 0)),
        "DETAIL deleted, not committed": _nth(ev, "after_append", 2),
        "DETAIL committed, rewrite due": _nth(ev, "before_sync_mirror", 3),
        "three source logs deleted": _nth(ev, "after_unlink", 2, source_manifest),
        "before the rewrite": _nth(ev, "before_rewrite", 0),
        "rewritten file swapped in, no entry": _nth(ev, "after_replace", 11),
        "rewrite entry committed, not mirrored": _nth(ev, "before_sync_mirror", 5),
    }


def test_kill_points_cover_every_kind_of_step(reference):
    events, _, _ = reference
    points = _kill_points(events)
    assert len(set(points.values())) == len(points)
    assert Counter(e.split()[1] for e in events) >= Counter(
        {"replace": 24, "append": 10, "rmtree": 6, "rewrite": 2, "sync_mirror": 12, "unlink": 20})


@pytest.mark.slow
@pytest.mark.parametrize("point", [
    "manifest written, nothing moved", "three of seven partitions moved",
    "RAW entry inserted, not committed", "RAW entry committed, not mirrored",
    "batch folder half deleted", "DETAIL deleted, not committed",
    "DETAIL committed, rewrite due", "three source logs deleted", "before the rewrite",
    "rewritten file swapped in, no entry", "rewrite entry committed, not mirrored"])
def test_a_rerun_finishes_a_killed_purge(retention_site, tmp_path, reference, point):
    events, expected, detail_left = reference
    cfg = copy(retention_site, tmp_path / "s", extra=EXTRA)
    killed = _run(cfg.config_file, _kill_points(events)[point])
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    purge_expired(cfg, as_of=AS_OF)  # the rerun

    verdict = verify_retention(cfg, as_of=AS_OF)
    assert verdict.passed, [c.evidence for c in verdict.checks]
    entries = _entries(cfg)
    removed = _removed(entries)
    for kind, items in expected.items():  # each removal recorded exactly once
        assert sorted(removed[kind]) == sorted(items), kind
    assert entries[-1].action == "rewrite_warehouse"
    assert query(cfg, "select count(*) from requests") == detail_left
    # and the disk agrees with the ledger
    assert raw.raw_days(cfg.data_dir) == {} and raw.reject_days(cfg.data_dir) == {}
    assert removal.pending(cfg.data_dir) == []
    logs = cfg.config_file.parent / "logs"
    assert not any((logs / name).exists() for name in removed["purge_source"])
    assert ledger.mirror_path(cfg.data_dir).read_text().count("\n") == len(entries)
    assert purge_expired(cfg, as_of=AS_OF).entries == []  # nothing left to do

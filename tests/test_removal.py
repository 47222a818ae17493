"""pipelines.removal: the removal batch journal (the purge's crash tests exercise it under
SIGKILL; here its own rules)."""
from __future__ import annotations

import datetime as dt
import json

from pipelines import raw, removal
from pipelines.purge import purge_expired
from retention_site import raw_partition_days, retention_site, site, tree  # noqa: F401


def test_a_batch_says_what_it_removes_before_anything_moves(tmp_path):
    data = tmp_path / "data"
    part = raw.ensure_dir(raw.raw_root(data) / "date=2026-11-01")
    (part / "1-0_0.parquet").write_bytes(b"x")
    batch = removal.begin(data, "purge_raw", dt.date(2026, 11, 8), {"count": 1})
    manifest = json.loads((batch.path / removal.MANIFEST).read_text())
    assert manifest == {"batch": batch.id, "action": "purge_raw", "cutoff": "2026-11-08",
                        "details": {"count": 1, "batch": batch.id}}
    assert batch.path.parent == raw.raw_root(data) / ".purging"
    assert batch.path.stat().st_mode & 0o777 == 0o700
    assert (batch.path / removal.MANIFEST).stat().st_mode & 0o077 == 0
    removal.move_into(batch, part, "date=2026-11-01")
    assert not part.exists() and (batch.path / "date=2026-11-01" / "1-0_0.parquet").exists()
    assert [b.id for b in removal.pending(data)] == [batch.id]
    removal.finish(batch)
    assert removal.pending(data) == []


def test_pending_only_reads_and_strays_are_cleared_by_recovery(tmp_path):
    data = tmp_path / "data"
    empty = removal.create(data)  # killed before its manifest
    (raw.raw_root(data) / ".purging" / "x.tmp").write_text("")
    before = sorted(p.name for p in (raw.raw_root(data) / ".purging").iterdir())
    [found] = removal.pending(data)
    assert found.id == empty.id and found.manifest == {}
    assert sorted(p.name for p in (raw.raw_root(data) / ".purging").iterdir()) == before
    removal.clear_strays(data)
    assert [p.name for p in (raw.raw_root(data) / ".purging").iterdir()] == [empty.id]


def test_dry_run_lists_an_interrupted_batch_and_leaves_it(site):
    part = raw.raw_root(site.data_dir) / "date=2026-11-08"
    batch = removal.begin(site.data_dir, "purge_raw", dt.date(2026, 11, 9),
                          {"partitions": [{"name": "date=2026-11-08", "day": "2026-11-08",
                                           "rows": 1, "files": [
                                               {"name": p.name, "bytes": 1, "rows": 1}
                                               for p in part.glob("*.parquet")]}],
                           "count": 1, "files": 1, "rows": 1, "bytes": 1})
    removal.move_into(batch, part, "date=2026-11-08")  # killed right after the move
    before = tree(site.data_dir)
    dry = purge_expired(site, as_of=dt.date(2026, 11, 16), dry_run=True)
    assert dry.recovered == [{"batch": batch.id, "action": "purge_raw", "sequence": None}]
    assert tree(site.data_dir) == before
    real = purge_expired(site, as_of=dt.date(2026, 11, 16))
    assert [(r["action"], r["sequence"]) for r in real.recovered] == [("purge_raw", 1)]
    assert real.entries[0]["result"] == "removed after interruption"
    assert raw_partition_days(site)[0] == dt.date(2026, 11, 9)

"""Removal batches: the write-ahead journal that makes deletions crash-safe.

A deletion of files (RAW day partitions, rejects partitions, source logs, the RAW files an
erasure rewrites) runs as one batch:

 1. `begin`: create raw/.purging/B/ (B = a new batch id) and write B/manifest.json
    atomically: the action, its cutoff and the ledger details of what goes (names, SHA-256,
    row counts). Nothing has been touched yet.
 2. the caller moves what goes into B/ (RAW: one atomic rename per partition, same file
    system, so no file is ever half-deleted) or deletes it (source logs, elsewhere);
 3. the caller appends the ledger entry, whose details carry `batch: B`;
 4. `finish`: B/ is deleted with what was moved into it.

So a batch folder exists exactly while a deletion is unfinished, and its manifest says
what it was doing. After a crash the next purge (`pipelines.purge.recover_batches`) looks
at each batch: no manifest -> nothing was touched, drop it; manifest but no ledger entry
-> finish step 2 for what is still in place, then 3 and 4; ledger entry -> only 4 is left.
Batches live inside raw/ (0700), because what they hold is RAW data until step 4, and
`weblog audit verify` fails while one exists.

Manifests never hold personal data (the erasure's address is not in it: its batch holds
the rewritten files instead, see pipelines.subjects).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import raw
from .errors import writing

MANIFEST = "manifest.json"


def purging_root(data_dir: Path) -> Path:
    return raw.raw_root(data_dir) / ".purging"


@dataclass
class Batch:
    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.name


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write a JSON file atomically and durably (temp file, fsync, rename, fsync folder)."""
    tmp = path.with_name(path.name + ".tmp")
    with raw.private_umask(), writing(tmp), open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    raw.fsync_dir(path.parent)


def create(data_dir: Path) -> Batch:
    """An empty batch folder, for work staged before its manifest (an erasure's rewritten
    files): without a manifest, recovery deletes it untouched."""
    raw.prepare(data_dir)
    root = raw.ensure_dir(purging_root(data_dir))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return Batch(raw.ensure_dir(root / f"{stamp}-{uuid.uuid4().hex[:8]}"), {})


def write_manifest(batch: Batch, action: str, cutoff: dt.date | None,
                   details: dict[str, Any], **extra: Any) -> Batch:
    """Say what the batch is about to remove; from now on recovery finishes it."""
    batch.manifest = {"batch": batch.id, "action": action,
                      "cutoff": cutoff.isoformat() if cutoff else None,
                      "details": {**details, "batch": batch.id}, **extra}
    write_json(batch.path / MANIFEST, batch.manifest)
    return batch


def begin(data_dir: Path, action: str, cutoff: dt.date | None, details: dict[str, Any],
          **extra: Any) -> Batch:
    """Create a batch folder whose manifest says what is about to be removed."""
    return write_manifest(create(data_dir), action, cutoff, details, **extra)


def move_into(batch: Batch, source: Path, relative: str) -> Path:
    """Rename `source` (a RAW folder or file) into the batch, atomically."""
    target = batch.path / relative
    raw.ensure_dir(target.parent)
    os.replace(source, target)
    raw.fsync_dir(source.parent)
    raw.fsync_dir(target.parent)
    return target


def finish(batch: Batch) -> None:
    """Delete the batch folder and everything moved into it (the last step)."""
    shutil.rmtree(batch.path)
    raw.fsync_dir(batch.path.parent)


def pending(data_dir: Path) -> list[Batch]:
    """Batches a killed run left, oldest first; a folder without manifest has manifest {}.
    Reads only (a dry run lists them)."""
    root = purging_root(data_dir)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if not child.is_dir():
            continue  # not a batch: `clear_strays` removes it
        try:
            manifest = json.loads((child / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        out.append(Batch(child, manifest))
    return out


def clear_strays(data_dir: Path) -> None:
    """Remove files directly in raw/.purging (batches are folders; nothing else belongs)."""
    root = purging_root(data_dir)
    if root.is_dir():
        for child in root.iterdir():
            if not child.is_dir():
                child.unlink()

"""One writer at a time per data directory.

DuckDB refuses a second process's connection while a writer holds the file, with an
error instead of a wait. Commands that write take DATA_DIR/.weblog.lock first (an
advisory flock, released by the kernel when the process dies, so a killed run never
leaves a stale lock) and wait a bounded time for it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import LockedError

LOCK_NAME = ".weblog.lock"
_held: dict[str, int] = {}  # re-entrant within a process: the nightly flow holds it around ingest


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, *, wait_seconds: float = 600.0,
                  poll: float = 0.2, what: str = "weblog") -> Iterator[None]:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    path = Path(data_dir) / LOCK_NAME
    key = str(path.resolve())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"Another weblog run holds {path} (waited {wait_seconds:.0f} s); "
                        f"{what} did not start.") from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
    finally:
        os.close(fd)  # closing releases the flock

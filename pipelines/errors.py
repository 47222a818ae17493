"""Domain exceptions.

Every message is one sentence a user can act on. Messages never carry log content (a line,
an address, a URL): only file names, line numbers, setting names and counts, because
exceptions end up in Prefect's database and in terminal output (privacy invariant 1).
The CLI turns these into exit codes: ConfigError and InputError exit 2, the rest 1.
"""
from __future__ import annotations

import contextlib
import errno
import signal
import threading
from collections.abc import Iterator


class WeblogError(Exception):
    """Base class: an expected failure with a user-facing message."""

    exit_code = 1


class ConfigError(WeblogError):
    """A setting, config file or path given by the user is wrong."""

    exit_code = 2


class InputError(WeblogError):
    """An input path or argument cannot be used (missing file, unknown format...)."""

    exit_code = 2


class LockedError(WeblogError):
    """Another weblog process holds the data directory's lock for too long."""

    exit_code = 3


class IngestError(WeblogError):
    """A source file could not be ingested; nothing of it was kept."""


class SourceReadError(IngestError):
    """A source file could not be read (a system I/O error): the one ingest failure worth
    retrying. A corrupt or truncated file raises a plain IngestError."""


#: A full or size-limited disk, as the OS reports it (errno) and DuckDB (in its message).
STORAGE_ERRNOS = {errno.ENOSPC: "No space left on device", errno.EFBIG: "File too large",
                  errno.EDQUOT: "Disk quota exceeded"}
#: DuckDB errors that report a failed write (others may quote a value from a log line)
_DUCKDB_IO = ("IOException", "TransactionException")


def storage_error(exc: BaseException) -> str | None:
    """'No space left on device writing PATH' when `exc` is a full (or size-limited) disk,
    else None. The path is the file being written (the warehouse, a staging, spill or
    snapshot file), shown with address literals masked in case a hostile name got there."""
    import re

    from .anonymize import mask_addresses

    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        reason, path = STORAGE_ERRNOS[exc.errno], exc.filename
    elif (type(exc).__name__ in _DUCKDB_IO
          and type(exc).__module__.startswith(("duckdb", "_duckdb"))):
        text = str(exc)
        reason = next((r for r in STORAGE_ERRNOS.values() if r in text), None)
        if reason is None:
            return None
        found = re.search(r'file \\?"(.+?)\\?"', text)  # quoted, or JSON-escaped in it
        path = found.group(1) if found else None
    else:
        return None
    return f"{reason} writing {mask_addresses(str(path))}" if path else reason


def os_error_sentence(exc: OSError) -> str:
    """One sentence for an OS error no step handled: what failed, on which path (address
    literals masked), never a traceback. 'Permission denied: /srv/data/.weblog.lock.'"""
    from .anonymize import mask_addresses

    what = exc.strerror or type(exc).__name__
    where = f": {mask_addresses(str(exc.filename))}" if exc.filename is not None else ""
    return f"{what}{where}."


@contextlib.contextmanager
def writing(path: object) -> Iterator[None]:
    """Name `path` in a full-disk error raised while writing it: a file object's write()
    raises OSError without the file name, and the user needs to know where."""
    try:
        yield
    except OSError as exc:
        if exc.errno in STORAGE_ERRNOS and exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


# ------------------------------------------------------------------ Ctrl-C inside DuckDB
# DuckDB polls for signals while a query runs; on Ctrl-C it cancels the query and raises
# its own error ("Query interrupted", as RuntimeError or InterruptException), swallowing
# the KeyboardInterrupt. The loops that go on after one file or day failed would then
# carry on with the next one. The CLI records the signal here, and those loops ask.
_interrupted = threading.Event()


def _on_sigint(signum: int, frame: object) -> None:
    _interrupted.set()
    signal.default_int_handler(signum, frame)


def record_interrupts() -> None:
    """Note Ctrl-C (SIGINT) before Python raises KeyboardInterrupt (main thread only;
    left alone when SIGINT is ignored or handled by someone else). SIGTERM (systemd, kill,
    a scheduler's timeout) stops a run the same way: without this it ended the process at
    once, and the temporary Prefect server a run had started lived on, an orphan."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigint)


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt when Ctrl-C arrived, whatever error it was reported as."""
    if _interrupted.is_set():
        raise KeyboardInterrupt

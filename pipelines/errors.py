"""Domain exceptions.

Every message is one sentence a user can act on. Messages never carry log content (a line,
an address, a URL): only file names, line numbers, setting names and counts, because
exceptions end up in Prefect's database and in terminal output (privacy invariant 1).
The CLI turns these into exit codes: ConfigError and InputError exit 2, the rest 1.
"""
from __future__ import annotations


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

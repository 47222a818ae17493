"""What the flows share: settings from paths, task options, task runners, optional steps.

Flows and tasks take and return only paths, dates, names and counts, because Prefect
stores flow parameters, logs, state messages and events (privacy invariant 1). So a task
gets the config file and data directory as paths and loads the configuration itself (a
Dask worker in another process can do the same), instead of receiving a Config.

Parts of weblog that other branches deliver (the statistics tier, purge, verify) are
imported lazily: while such a module is absent, its step reports NOT_AVAILABLE (visible in
the run's artifact) instead of failing the run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from pipelines import raw, warehouse
from pipelines.config import TASK_RUNNERS, Config, find_config_file, load_config
from pipelines.errors import ConfigError, SourceReadError, WeblogError
from pipelines.lock import data_dir_lock
from pipelines.nightly_report import NOT_AVAILABLE

# Tasks that touch RAW (or could): nothing persisted, nothing cached (DEPENDENCY-NOTES).
PRIVATE = {"persist_result": False, "cache_policy": NO_CACHE}
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}

__all__ = ["NOT_AVAILABLE", "PRIVATE", "IO_RETRIES", "load", "paths", "open_warehouse",
           "optional", "plain", "error_text", "private_errors", "retry_on_io", "task_runner"]


def paths(config_file: str | None, data_dir: str | None) -> dict[str, str | None]:
    """Absolute config file and data dir, so tasks in any process or folder agree."""
    file = find_config_file(config_file)
    cfg = load_config(file, data_dir)
    return {"config_file": str(file.absolute()) if file else None,
            "data_dir": str(Path(cfg.data_dir).absolute())}


def load(config_file: str | None, data_dir: str | None) -> Config:
    return load_config(config_file, data_dir)


@contextlib.contextmanager
def open_warehouse(cfg: Config) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, written under the data-dir lock (re-entrant: flows hold it already)."""
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds):
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        try:
            yield con
        finally:
            con.close()


def optional(module: str) -> ModuleType | None:
    """`pipelines.<module>` when this build has it, else None (never hides other errors)."""
    name = f"pipelines.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def plain(value: Any) -> Any:
    """A step's result as JSON-like values (dataclasses, dates, paths, tuples unwrapped)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, Path)):
        return str(value)
    return value


def error_text(exc: BaseException) -> str:
    """A failure as it may be shown and stored: our messages carry no log content; any
    other exception is reduced to its class (its message might quote a line)."""
    return str(exc) if isinstance(exc, WeblogError) else type(exc).__name__


@contextlib.contextmanager
def private_errors(step: str) -> Iterator[None]:
    """Let our own errors through; reduce any other to its class. A database or parser
    error raised while reading RAW data may quote a value (an address, an agent), and
    Prefect stores exception messages (privacy invariant 1)."""
    try:
        yield
    except WeblogError:
        raise
    except Exception as exc:
        raise WeblogError(f"{step} failed ({type(exc).__name__}); details are withheld "
                          f"from Prefect because they may quote log content: run the "
                          f"step from the command line to see them.") from None


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when it failed reading or writing files, not on a bad input."""
    try:
        state.result()
    except (SourceReadError, OSError):
        return True
    except BaseException:
        return False
    return False


def task_runner(kind: str, workers: int, dask_address: str | None) -> TaskRunner:
    """Threads in this process, or Dask: an existing cluster at `dask_address`, else a
    local cluster of `workers` processes started for the run."""
    if kind not in TASK_RUNNERS:
        raise ConfigError(f"Unknown task runner {kind!r} (use one of {', '.join(TASK_RUNNERS)}).")
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=workers)

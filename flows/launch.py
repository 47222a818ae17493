"""Running flows from the `weblog` command line: Prefect's home, its API, its heartbeat.

Prefect reads its settings when it is first imported, so `prepare_environment` must run
before anything imports prefect (this module imports it lazily). It sets PREFECT_HOME to
DATA_DIR/prefect unless the operator set PREFECT_HOME (auditors scan that folder; see
pipelines.prefect_home), and PREFECT_SERVER_ANALYTICS_ENABLED=false (no network at run
time).

Which Prefect API a run talks to:
- PREFECT_API_URL set (environment or profile): that server; the run appears in its UI.
- otherwise Prefect's temporary local server, started for the run (~5-15 s) with its
  database in PREFECT_HOME. Flow heartbeats are switched off then: they only help a real
  server notice crashed runs, and stopping them costs about a second per flow run.
  A Dask task runner needs one server its worker processes can reach too (otherwise each
  worker starts its own): one is started here and its URL exported to them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.prefect_home import prefect_environment, prepare_home


def prepare_environment(data_dir: Path) -> Path:
    """Point Prefect at its home for this data directory; return that folder."""
    home = prepare_home(data_dir)
    os.environ.update(prefect_environment(data_dir))
    if "PREFECT_API_URL" in os.environ and not os.environ["PREFECT_API_URL"].strip():
        # set but empty means unset (Prefect's event worker would post to "")
        del os.environ["PREFECT_API_URL"]
    return home


def check_api(url: str) -> None:
    """ConfigError in one sentence when nothing answers at `url` (a wrong PREFECT_API_URL
    gave tracebacks from Prefect's workers). Any HTTP answer will do: a server that wants
    credentials for its health check is still there."""
    import httpx

    from pipelines.errors import ConfigError

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=10)
    except (httpx.TransportError, httpx.InvalidURL, ValueError) as exc:
        raise ConfigError(f"PREFECT_API_URL {url[:200]} does not answer "
                          f"({type(exc).__name__}): start that Prefect server, or unset "
                          "PREFECT_API_URL to run on a temporary local one.") from None


def _drain() -> None:
    """Send buffered logs and events before the temporary server stops."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        with contextlib.suppress(RuntimeError):
            result = APILogWorker.instance().drain()
            if hasattr(result, "__await__"):
                await result
        result = EventsWorker.drain_all()
        if hasattr(result, "__await__"):
            await result

    run_coro_as_sync(drain())


@contextlib.contextmanager
def prefect_api(shared: bool) -> Iterator[str | None]:
    """The API for runs in this block; yields its URL (None: the temporary server)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, \
        temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        check_api(url)
        yield url
        return
    no_heartbeat = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if not shared:
        with temporary_settings(updates=no_heartbeat):
            yield None
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    try:
        server.start()
    except BaseException:  # Ctrl-C or SIGTERM while it starts: no server left behind
        server.stop()
        raise
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by Dask worker processes
    try:
        with temporary_settings(updates={**no_heartbeat, PREFECT_API_URL: server.api_url}):
            yield server.api_url
            _drain()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def run_nightly(*, as_of: dt.date | None, config_file: str | None, data_dir: str,
                sources: list[str] | None = None, task_runner: str = "thread",
                dask_address: str | None = None) -> tuple[bool, Any, str | None]:
    """Run the nightly flow once; (completed, summary or exception, state message)."""
    from flows.nightly import nightly
    from prefect.settings import PREFECT_API_URL

    from pipelines.errors import ConfigError

    if task_runner == "dask" and dask_address and not PREFECT_API_URL.value():
        raise ConfigError(f"The Dask cluster at {dask_address} needs a Prefect server its "
                          "workers can reach: set PREFECT_API_URL (see README, Scheduling).")
    with prefect_api(shared=task_runner == "dask" and not dask_address):
        state = nightly(as_of=as_of, config_file=config_file, data_dir=data_dir,
                        sources=sources, task_runner=task_runner, dask_address=dask_address,
                        return_state=True)
        return state.is_completed(), state.result(raise_on_failure=False), state.message


def serve_deployments(*, config_file: str | None, data_dir: str | None, timezone: str) -> None:
    """Serve the deployments from this process until interrupted (needs a real server)."""
    from prefect import serve
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import runner_deployments
    from pipelines.errors import ConfigError

    if not PREFECT_API_URL.value():
        raise ConfigError("weblog schedule needs a Prefect server (schedules never run on the "
                          "temporary one): start `prefect server start` and set "
                          "PREFECT_API_URL=http://127.0.0.1:4200/api.")
    check_api(PREFECT_API_URL.value())
    serve(*runner_deployments(config_file=config_file, data_dir=data_dir, timezone=timezone))

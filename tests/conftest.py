"""Shared fixtures.

`realworld` points at ../shared/realworld (third-party logs and MaxMind's test databases).
Outside CI a missing folder skips the tests that need it; under CI (env CI set) it fails,
so a missing checkout cannot hide behind a skip.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REALWORLD = Path(os.environ.get("WEBLOG_REALWORLD", REPO.parent / "shared" / "realworld"))


@pytest.fixture(scope="session")
def realworld() -> Path:
    """Folder of real third-party material; skip cleanly when absent (fail under CI)."""
    if not REALWORLD.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"realworld material missing at {REALWORLD} (required under CI)")
        pytest.skip("../shared/realworld is absent")
    return REALWORLD


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """Real flow runs against Prefect's test server, for the whole session (it takes ~10 s
    to start). PREFECT_HOME is a temporary folder (results storage, profiles); the test
    server keeps its SQLite database in a folder of its own, given as `database`. Flow
    heartbeats are off: they cost about a second per flow run. Prefect is imported here,
    lazily, so library tests never load it."""
    from types import SimpleNamespace

    from prefect.settings import (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_HOME,
                                  PREFECT_SERVER_ANALYTICS_ENABLED, get_current_settings,
                                  temporary_settings)
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with temporary_settings(updates={PREFECT_HOME: str(home),
                                     PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                                     PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        with prefect_test_harness(server_startup_timeout=180):
            url = get_current_settings().server.database.connection_url.get_secret_value()
            yield SimpleNamespace(home=home, database=Path(url.split(":///", 1)[1]))


@pytest.fixture(autouse=True)
def _prefect_services_stopped():
    """After a test that ran Prefect: stop its log and event workers. Their threads outlive
    the flow run, and they draw from the global `random` while later tests in the same
    worker run Hypothesis, which then warns that a strategy used `random`. Prefect starts
    them again when a flow needs them."""
    yield
    if "prefect.logging.handlers" in sys.modules:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for service in (APILogWorker, EventsWorker):
            service.drain_all(timeout=30, at_exit=False)


@pytest.fixture
def prefect_cli_env(prefect_harness, monkeypatch):
    """For `weblog nightly`/`demo` run in this process (CliRunner): the flows use the test
    server, and the Prefect variables the command sets are undone afterwards."""
    monkeypatch.setenv("PREFECT_HOME", str(prefect_harness.home))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return prefect_harness


# --------------------------------------------------------------------------- statistics

@pytest.fixture(scope="session")
def stats_warehouse(tmp_path_factory):
    """(config, log lines) of the aggregated statistics fixture (tests/stats_fixture.py).
    Shared: read it only; take `stats_copy` to change anything."""
    from stats_fixture import build_warehouse

    return build_warehouse(tmp_path_factory.mktemp("stats"))


@pytest.fixture
def stats_copy(stats_warehouse, tmp_path):
    """A private copy of the statistics fixture's data directory: (config, log lines)."""
    import dataclasses
    import shutil

    cfg, lines = stats_warehouse
    data = tmp_path / "data"
    shutil.copytree(cfg.data_dir, data, symlinks=True,
                    ignore=shutil.ignore_patterns(".weblog.lock"))
    return dataclasses.replace(cfg, data_dir=data), lines


# --------------------------------------------------------------------------- views

@pytest.fixture(scope="session")
def views_warehouse(tmp_path_factory):
    """(config, log lines) of the statistics fixture plus hostile lines
    (tests/views_fixture.py), aggregated and published. Read it only."""
    from views_fixture import build_views_warehouse

    return build_views_warehouse(tmp_path_factory.mktemp("views"))


@pytest.fixture
def views_copy(views_warehouse, tmp_path):
    """A private copy of the views fixture's data directory: (config, log lines)."""
    import dataclasses
    import shutil

    cfg, lines = views_warehouse
    data = tmp_path / "data"
    shutil.copytree(cfg.data_dir, data, symlinks=True,
                    ignore=shutil.ignore_patterns(".weblog.lock"))
    return dataclasses.replace(cfg, data_dir=data), lines

"""Shared fixtures.

`realworld` points at ../shared/realworld (third-party logs and MaxMind's test databases).
Outside CI a missing folder skips the tests that need it; under CI (env CI set) it fails,
so a missing checkout cannot hide behind a skip.
"""
from __future__ import annotations

import os
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

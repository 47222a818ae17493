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

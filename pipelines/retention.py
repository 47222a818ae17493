"""Retention windows: the one definition used by ingest, purge and verify.

With `raw_days = 7` and as-of 2026-11-15, the RAW window holds the days 2026-11-08 ..
2026-11-15 (the as-of day too); 2026-11-07 and earlier are outside it. The DETAIL window
works the same way with `detail_days`. Days are site-local dates.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo


def today_in(timezone: str) -> dt.date:
    """Today's date in the site time zone (the default as-of day)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


def resolve_as_of(as_of: dt.date | str | None, timezone: str) -> dt.date:
    if as_of is None:
        return today_in(timezone)
    if isinstance(as_of, str):
        return dt.date.fromisoformat(as_of)
    return as_of


def window_start(as_of: dt.date, days: int) -> dt.date:
    """First day inside a `days`-long retention window ending on `as_of`."""
    return as_of - dt.timedelta(days=days)


def raw_window_start(as_of: dt.date, raw_days: int) -> dt.date:
    return window_start(as_of, raw_days)


def in_raw_window(day: dt.date, as_of: dt.date, raw_days: int) -> bool:
    return day >= raw_window_start(as_of, raw_days)

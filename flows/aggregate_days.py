"""aggregate_days: recompute the daily statistics of the given days and of stale days.

The statistics tier (pipelines.aggregate) arrives from another branch: until it is in this
build, the flow returns {"status": NOT_AVAILABLE} and the nightly artifact says so.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, task

from flows.common import (NOT_AVAILABLE, PRIVATE, load, open_warehouse, optional, paths, plain,
                          private_errors)


@task(**PRIVATE)
def days_needing_stats(config_file: str | None, data_dir: str) -> list[dt.date]:
    """Days whose statistics are missing or older than their data."""
    cfg = load(config_file, data_dir)
    with private_errors("Finding stale days"), open_warehouse(cfg) as con:
        return sorted(optional("aggregate").days_needing_stats(con))


@task(**PRIVATE)
def aggregate(config_file: str | None, data_dir: str, days: list[dt.date],
              as_of: dt.date | None) -> dict:
    """Recompute the statistics tables of `days` (RAW is read: nothing persisted)."""
    cfg = load(config_file, data_dir)
    with private_errors("Aggregation"), open_warehouse(cfg) as con:
        result = optional("aggregate").aggregate_days(con, cfg, days, as_of=as_of)
    result.raise_for_failed()  # the other days are committed; the step fails naming the rest
    return plain(result)


@flow(name="aggregate-days", persist_result=False)
def aggregate_days(days: list[dt.date] | None = None, as_of: dt.date | None = None,
                   config_file: str | None = None, data_dir: str | None = None) -> dict:
    """Statistics for `days` plus every day whose statistics are stale."""
    if optional("aggregate") is None:
        return {"status": NOT_AVAILABLE}
    where = paths(config_file, data_dir)
    todo = sorted(set(days or []) | set(days_needing_stats(**where)))
    if not todo:
        return {"status": "done", "days": []}
    result = aggregate(**where, days=todo, as_of=as_of)
    return {"status": "done", "days": [d.isoformat() for d in todo], **result}


if __name__ == "__main__":
    aggregate_days()

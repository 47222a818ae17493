"""nightly: ingest -> aggregate the touched days -> purge -> verify -> publish.

Publishing is twofold: the statistics snapshot the dashboard serves
(DATA_DIR/published/stats.duckdb, pipelines.publish; after the purge so it carries the
new ledger entries) and the run's receipt.

The run holds the data-dir lock throughout: a second run (a slow night, a manual run)
waits up to `prefect.lock_wait_seconds`, then fails with "Another weblog run holds ...".
Each step is a subflow and runs even when an earlier one failed (a broken log file must
not stop expired data from being purged; purge itself refuses days with stale statistics).
The run then publishes its receipt, the Markdown artifact `weblog-nightly` (headline
statistics, per-file reconciliation, purge receipt, verify verdict), and ends Failed when
any step failed, in particular when verification fails.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed, State

from flows.aggregate_days import aggregate_days
from flows import common
from flows.common import (IO_RETRIES, PRIVATE, error_text, load, open_warehouse, paths, plain,
                          private_errors)
from flows.ingest_logs import ingest_logs
from flows.purge_expired import purge_expired
from flows.verify_retention import verify_retention
from pipelines import nightly_report, retention
from pipelines.lock import data_dir_lock

ARTIFACT_KEY = "weblog-nightly"


@task(**PRIVATE)
def headline(config_file: str | None, data_dir: str, day: dt.date) -> list[dict] | None:
    """The day's headline statistics (daily_traffic rows); None before that tier exists."""
    cfg = load(config_file, data_dir)
    with private_errors("Reading statistics"), open_warehouse(cfg) as con:
        return plain(nightly_report.headline_stats(con, day))


@task(**PRIVATE, **IO_RETRIES)
def publish_snapshot(config_file: str | None, data_dir: str) -> dict:
    """Write the statistics snapshot the dashboard reads (statistics and ledgers only)."""
    from pipelines.publish import publish as publish_stats

    cfg = load(config_file, data_dir)
    with private_errors("Publishing the snapshot"):
        return plain(publish_stats(cfg))


@task(**PRIVATE, **IO_RETRIES)
def publish(summary: dict) -> str:
    """Publish the run's receipt as the Markdown artifact 'weblog-nightly'."""
    markdown = nightly_report.render_markdown(summary)
    return str(create_markdown_artifact(key=ARTIFACT_KEY, markdown=markdown,
                                        description=f"weblog nightly run as of {summary['as_of']}"))


def _outcome(step: str, state: State, problems: list[str]) -> Any:
    """A subflow's result; when it failed, its data (if any) and one line in `problems`."""
    if state.is_completed():
        return state.result()
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException) or data is None:  # it raised: no result to show
        problems.append(f"{step}: {error_text(data) if data is not None else state.message}")
        return None
    problems.append(f"{step}: {state.message}")
    return data


@flow(name="nightly", persist_result=False)
def nightly(as_of: dt.date | None = None, config_file: str | None = None,
            data_dir: str | None = None, sources: list[str] | None = None,
            task_runner: str | None = None, dask_address: str | None = None) -> dict:
    """The nightly job: ingest, aggregate, purge, verify, publish the receipt."""
    where = paths(config_file, data_dir)
    cfg = load(**where)
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    runner = common.task_runner(task_runner or cfg.task_runner, cfg.workers,
                                dask_address or cfg.dask_address)
    failed = {"status": "failed"}
    problems: list[str] = []
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="the nightly run"):
        files = _outcome("ingest", ingest_logs.with_options(task_runner=runner)(
            sources=sources, as_of=as_of, **where, return_state=True), problems) or []
        touched = sorted({dt.date.fromisoformat(d) for f in files for d in f.get("days", [])})
        aggregated = _outcome("aggregate", aggregate_days(
            days=touched, as_of=as_of, **where, return_state=True), problems) or failed
        purged = _outcome("purge", purge_expired(
            as_of=as_of, dry_run=False, **where, return_state=True), problems) or failed
        verified = _outcome("verify", verify_retention(
            as_of=as_of, **where, return_state=True), problems) or failed
        snapshot = publish_snapshot(**where, return_state=True)
        if not snapshot.is_completed():
            problems.append(f"publish: {snapshot.message}")
        stats_day = as_of - dt.timedelta(days=1)
        summary = {"as_of": as_of.isoformat(), "timezone": cfg.timezone,
                   "stats_day": stats_day.isoformat(),
                   "status": "failed" if problems else "completed", "problems": problems,
                   "stats": headline(**where, day=stats_day), "ingest": files,
                   "aggregate": aggregated, "purge": purged, "verify": verified}
        publish(summary)
    if problems:
        return Failed(message="; ".join(problems), data=summary)
    return summary


if __name__ == "__main__":
    nightly()

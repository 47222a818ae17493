"""ingest_logs: ingest the new files of the configured sources, one task per file.

    plan_files    (this process)   which files are new; a file id for each
    stage_file    (task runner)    read, parse, enrich one file into RAW staging, all at once
    commit_file   (this process)   one warehouse transaction per file, in plan order

Only the stage tasks run concurrently (threads, or Dask workers in other processes): they
never open the warehouse, each writes its own raw/.staging/F folder. Commits are called
directly, in the order the files were planned (oldest first), by this flow's process, the
only writer of the warehouse; so a concurrent run leaves exactly the warehouse a serial
`weblog ingest` leaves. The flow holds the data-dir lock from plan to last commit.

A file that fails does not stop the others: they are committed, and the flow ends Failed
with the per-file results as its data (the nightly flow reports them).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import IO_RETRIES, PRIVATE, error_text, load, paths, retry_on_io
from pipelines import ingest, retention
from pipelines.lock import data_dir_lock


@task(**PRIVATE, **IO_RETRIES, retry_condition_fn=retry_on_io)
def plan_files(config_file: str | None, data_dir: str, sources: list[str] | None) -> list[dict]:
    """Which files of the sources are new; reserve a file id for each."""
    cfg = load(config_file, data_dir)
    return [p.to_dict() for p in ingest.plan_sources(cfg, sources)]


@task(**PRIVATE, **IO_RETRIES, retry_condition_fn=retry_on_io, task_run_name="stage {name}")
def stage_file(config_file: str | None, data_dir: str, file_id: int, as_of: dt.date,
               name: str) -> int:
    """Read, parse and enrich one file into its RAW staging folder; return lines read."""
    cfg = load(config_file, data_dir)
    return ingest.stage_file(cfg, file_id, as_of=as_of).lines_read


@task(**PRIVATE, task_run_name="commit {name}")
def commit_file(config_file: str | None, data_dir: str, file_id: int, name: str) -> dict:
    """Commit one staged file: DETAIL rows and ledger row, then promote its RAW files."""
    result = ingest.commit_ingest(load(config_file, data_dir), file_id)
    get_run_logger().info("%s: %s, %d lines read = %d parsed + %d rejected", name,
                          result.status, result.lines_read, result.lines_parsed,
                          result.lines_rejected)
    return result.to_dict()


@flow(name="ingest-logs", persist_result=False, task_runner=ThreadPoolTaskRunner(max_workers=4))
def ingest_logs(sources: list[str] | None = None, as_of: dt.date | None = None,
                config_file: str | None = None, data_dir: str | None = None) -> list[dict]:
    """Ingest new files of the configured [[sources]] (or of `sources`, globs)."""
    where = paths(config_file, data_dir)
    cfg = load(**where)
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    results: list[dict] = []
    with data_dir_lock(cfg.data_dir, wait_seconds=cfg.lock_wait_seconds, what="ingest-logs"):
        planned = plan_files(where["config_file"], where["data_dir"], sources)
        staged = {p["file_id"]: stage_file.submit(**where, file_id=p["file_id"], as_of=as_of,
                                                  name=Path(p["shown"]).name)
                  for p in planned if p["file_id"] is not None}
        for p in planned:
            if p["file_id"] is None:
                results.append(ingest.skipped_result(ingest.PlannedFile(**p)).to_dict())
                continue
            name = Path(p["shown"]).name
            try:
                staged[p["file_id"]].result()
                results.append(commit_file(**where, file_id=p["file_id"], name=name))
            except Exception as exc:  # reported per file; the other files go on
                results.append({"path": p["shown"], "status": "failed", "error": error_text(exc)})
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        names = ", ".join(Path(r["path"]).name for r in failed)
        return Failed(message=f"{len(failed)} of {len(results)} files failed: {names}",
                      data=results)
    return results


if __name__ == "__main__":
    ingest_logs()

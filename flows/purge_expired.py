"""purge_expired: delete what the retention policy says must go (pipelines.purge).

The purge (RAW days and rejects past raw_days, DETAIL rows past detail_days, its
hash-chained ledger) arrives from another branch: until it is in this build, the flow
returns {"status": NOT_AVAILABLE} and the nightly artifact says so.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, task

from flows.common import NOT_AVAILABLE, PRIVATE, load, optional, paths, plain, private_errors


@task(**PRIVATE)
def purge(config_file: str | None, data_dir: str, as_of: dt.date | None, dry_run: bool) -> dict:
    """Purge expired tiers; return the receipt (ledger entries, hashes, counts)."""
    cfg = load(config_file, data_dir)
    with private_errors("Purge"):
        return plain(optional("purge").purge_expired(cfg, as_of=as_of, dry_run=dry_run))


@flow(name="purge-expired", persist_result=False)
def purge_expired(as_of: dt.date | None = None, dry_run: bool = False,
                  config_file: str | None = None, data_dir: str | None = None) -> dict:
    """Delete RAW and DETAIL data older than the retention windows (or list it: dry_run)."""
    if optional("purge") is None:
        return {"status": NOT_AVAILABLE}
    return {"status": "done", **purge(**paths(config_file, data_dir), as_of=as_of,
                                      dry_run=dry_run)}


if __name__ == "__main__":
    purge_expired()

"""purge_expired: delete what the retention policy says must go (pipelines.purge).

RAW days and rejects past raw_days (days whose statistics are current only), DETAIL rows
past detail_days, source logs when enabled, then the warehouse rewrite; every removal is
recorded in the hash-chained ledger. The flow returns the receipt (counts, names, ledger
entries with their hashes) and ends Failed when something due had to be kept (a day whose
statistics could not be computed), so the nightly run shows it.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, task
from prefect.states import Failed

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
    receipt = purge(**paths(config_file, data_dir), as_of=as_of, dry_run=dry_run)
    trouble = len(receipt.get("kept", [])) + len(receipt.get("problems", []))
    if trouble and not dry_run:
        return Failed(message=f"Purge kept {trouble} item(s) that were due (see the receipt).",
                      data={"status": "failed", **receipt})
    return {"status": "done", **receipt}


if __name__ == "__main__":
    purge_expired()

"""verify_retention: check that the retention promises hold (pipelines.verify).

The four checks of `weblog audit verify` (ledger chain, nothing past its window, no full
address outside RAW, RAW owner-only); the verdict carries masked evidence only. A failed
verification ends the flow Failed (red in the UI) with the verdict as its data, so the
nightly run publishes it and fails too.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow, task
from prefect.states import Failed

from flows.common import NOT_AVAILABLE, PRIVATE, load, optional, paths, plain, private_errors


@task(**PRIVATE)
def verify(config_file: str | None, data_dir: str, as_of: dt.date | None) -> dict:
    """Run every retention check; return the verdict and its evidence (counts, names)."""
    cfg = load(config_file, data_dir)
    with private_errors("Verification"):
        return plain(optional("verify").verify_retention(cfg, as_of=as_of).to_dict())


@flow(name="verify-retention", persist_result=False)
def verify_retention(as_of: dt.date | None = None, config_file: str | None = None,
                     data_dir: str | None = None) -> dict:
    """PASS or FAIL with evidence; the flow fails when the verification does."""
    if optional("verify") is None:
        return {"status": NOT_AVAILABLE}
    verdict = verify(**paths(config_file, data_dir), as_of=as_of)
    passed = bool(verdict.get("passed", verdict.get("ok", False)))
    result = {"status": "passed" if passed else "failed", **verdict}
    return result if passed else Failed(message="Retention verification failed.", data=result)


if __name__ == "__main__":
    verify_retention()

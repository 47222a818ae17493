"""The deployments: `nightly` at 02:30 in the site time zone, and `purge-only` on demand.

prefect.yaml declares them for `prefect deploy` (a work pool plus a worker);
`weblog schedule` serves the same two from one process (`runner_deployments`), for sites
without a work pool. A test keeps prefect.yaml and DEPLOYMENTS in step.

Prefect accepts a misspelt time zone in prefect.yaml and in `Cron(...)` and then schedules
in UTC, which would cut the nightly run at the wrong hour: `check_prefect_yaml` (run by
`weblog schedule --check`) and `validate_timezone` catch that.
"""
from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError

NIGHTLY_CRON = "30 2 * * *"
WORK_POOL = "weblog"
DEPLOYMENTS: dict[str, dict[str, Any]] = {
    "nightly": {"entrypoint": "flows/nightly.py:nightly", "cron": NIGHTLY_CRON,
                "description": "Ingest new logs, aggregate, purge expired data, verify, "
                               "publish the receipt."},
    "purge-only": {"entrypoint": "flows/purge_expired.py:purge_expired", "cron": None,
                   "description": "Purge expired RAW and DETAIL data now (manual runs)."},
}


def validate_timezone(name: str, where: str = "time zone") -> str:
    """`name` if it is an IANA time zone, else a ConfigError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"{where} {name!r} is not an IANA time zone name "
                          "(e.g. 'Asia/Tokyo'); Prefect would silently use UTC.") from None
    return name


def runner_deployments(*, config_file: str | None, data_dir: str | None,
                       timezone: str) -> list[Any]:
    """The deployments as Prefect RunnerDeployments, for serve()."""
    from prefect.schedules import Cron

    from flows.nightly import nightly
    from flows.purge_expired import purge_expired

    params = {"config_file": config_file, "data_dir": data_dir}
    tz = validate_timezone(timezone, "The site time zone")
    return [
        nightly.to_deployment("nightly", schedules=[Cron(NIGHTLY_CRON, timezone=tz)],
                              parameters=params, concurrency_limit=1,
                              description=DEPLOYMENTS["nightly"]["description"]),
        purge_expired.to_deployment("purge-only", parameters={**params, "dry_run": False},
                                    description=DEPLOYMENTS["purge-only"]["description"]),
    ]


def _cron_problem(cron: Any) -> str | None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except (ValueError, TypeError):
        return f"cron {cron!r} is not a valid cron expression"
    return None


def check_prefect_yaml(path: Path, site_timezone: str) -> list[str]:
    """Problems with the schedules of a prefect.yaml: one sentence each (empty: fine)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [f"{path} cannot be read as YAML ({type(exc).__name__})."]
    deployments = doc.get("deployments") if isinstance(doc, dict) else None
    if not isinstance(deployments, list):
        return [f"{path} has no 'deployments' list (is it a prefect.yaml?)."]
    found = {d.get("name"): d for d in deployments if isinstance(d, dict)}
    problems = []
    for name, spec in DEPLOYMENTS.items():
        deployment = found.get(name)
        if deployment is None:
            problems.append(f"{path}: no deployment named '{name}'.")
            continue
        if deployment.get("entrypoint") != spec["entrypoint"]:
            problems.append(f"{path}: deployment '{name}' must have entrypoint "
                            f"{spec['entrypoint']}.")
        for schedule in deployment.get("schedules") or []:
            if not isinstance(schedule, dict):
                problems.append(f"{path}: deployment '{name}': a schedule is not a mapping.")
                continue
            cron, tz = schedule.get("cron"), schedule.get("timezone")
            bad_cron = _cron_problem(cron) if cron is not None else None
            if bad_cron:
                problems.append(f"{path}: deployment '{name}': {bad_cron}.")
            if tz is None:
                problems.append(f"{path}: deployment '{name}': a schedule without timezone "
                                f"runs in UTC; the site time zone is {site_timezone}.")
                continue
            try:
                validate_timezone(tz, f"deployment '{name}': time zone")
            except ConfigError as exc:
                problems.append(f"{path}: {exc}")
                continue
            if tz != site_timezone:
                problems.append(f"{path}: deployment '{name}' is scheduled in {tz}, but the "
                                f"site time zone is {site_timezone} (days end at its midnight).")
    return problems

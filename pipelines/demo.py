"""`weblog demo`: realistic sample logs + a synthetic GeoIP database, ingested end to end.

The sample is 14 days of Apache combined logs ending yesterday, at +0900, rotated like
logrotate leaves them (access.log, access.log.1, access.log.2.gz ...). Addresses come
from the documentation ranges only, and the GeoIP files are SYNTHETIC, built for those
ranges (pipelines.geo.DEMO_NETWORKS), clearly labelled so in their metadata.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import retention
from .config import Config
from .geo import DEMO_NETWORKS, build_synthetic_databases
from .sample import generate_demo_logs

DEMO_OFFSET = "+0900"


def sample_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "sample"


def geoip_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "geoip"


def prepare_demo(cfg: Config, as_of: dt.date, days: int = 14) -> tuple[Config, list[Path]]:
    """Write the sample logs and synthetic GeoIP files; return the config to ingest them with."""
    logs = generate_demo_logs(sample_dir(cfg.data_dir), end_day=as_of - dt.timedelta(days=1),
                              days=days, utc_offset=DEMO_OFFSET)
    dbs = build_synthetic_databases(geoip_dir(cfg.data_dir), DEMO_NETWORKS)
    if not (cfg.country_db or cfg.city_db or cfg.asn_db):
        cfg = dataclasses.replace(cfg, **dbs)
    return cfg, logs


def run_demo(cfg: Config, *, as_of: dt.date | None = None, days: int = 14,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Generate, ingest, and return the tier status.

    The sample files go through the config's [[sources]] that match them (so their format
    and vhost apply, as in production); files no source matches are ingested directly
    as combined logs.
    """
    from .formats import get_format
    from .ingest import ingest_jobs, source_files
    from .status import tier_status

    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    cfg, logs = prepare_demo(cfg, as_of, days)
    echo(f"Sample logs: {len(logs)} files in {sample_dir(cfg.data_dir)} "
         f"({logs[0].name} .. {logs[-1].name}).")
    echo(f"Synthetic GeoIP (documentation ranges, not MaxMind data): {geoip_dir(cfg.data_dir)}")
    if cfg.timezone == "UTC":
        echo("Note: the site time zone is UTC; the example config (weblog.example.toml) "
             "uses Asia/Tokyo like the sample logs.")
    generated = {p.resolve() for p in logs}
    # only the sample: a demo never ingests other files the sources happen to match
    jobs = [job for job in source_files(cfg) if Path(job[0]).resolve() in generated]
    covered = {Path(job[0]).resolve() for job in jobs}
    missing = [p for p in logs if p.resolve() not in covered]
    if cfg.sources and missing:
        echo(f"Note: no [[sources]] entry matches {len(missing)} sample file(s) in "
             f"{sample_dir(cfg.data_dir)}; ingesting them as combined logs without a vhost.")
    jobs += [(str(p), get_format("combined"), None) for p in missing]
    results = ingest_jobs(cfg, jobs, as_of=as_of)
    for r in results:
        echo(f"  {Path(r.path).name:<18} {r.status:<16} read {r.lines_read:>6,}  parsed "
             f"{r.lines_parsed:>6,}  rejected {r.lines_rejected:>3}  too old for RAW {r.lines_too_old:>6,}")
    return tier_status(cfg, as_of)

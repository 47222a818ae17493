"""`weblog demo`: realistic sample logs + a synthetic GeoIP database, run through the
nightly flow end to end.

The sample is 14 days of Apache combined logs ending yesterday, at +0900, rotated like
logrotate leaves them (access.log, access.log.1, access.log.2.gz ...). Addresses come
from the documentation ranges only, and the GeoIP files are SYNTHETIC, built for those
ranges (pipelines.geo.DEMO_NETWORKS), clearly labelled so in their metadata.

This module prepares the run (files, and the config file the flow reads) and says where
to look afterwards; the `weblog demo` command runs the nightly flow in between (the
library never imports prefect). The flow reads its settings from a file, so when the demo
has to add its synthetic GeoIP files to the settings in force, it writes them, with
everything else unchanged, to DATA_DIR/sample/weblog-demo.toml.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import warehouse
from .config import Config, to_toml
from .geo import DEMO_NETWORKS, build_synthetic_databases
from .prefect_home import prefect_home
from .sample import generate_demo_logs

DEMO_OFFSET = "+0900"
DEMO_CONFIG_NAME = "weblog-demo.toml"


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


@dataclass(frozen=True)
class DemoRun:
    """What the demo's nightly run reads: a config file and the sample's glob."""

    config_file: Path | None
    sources: list[str]
    logs: list[Path]


def prepare_demo_run(cfg: Config, as_of: dt.date, days: int = 14,
                     echo: Callable[[str], None] = print) -> DemoRun:
    """Generate the sample and GeoIP files; decide the config file and sources of the run."""
    demo_cfg, logs = prepare_demo(cfg, as_of, days)
    echo(f"Sample logs: {len(logs)} files in {sample_dir(cfg.data_dir)} "
         f"({logs[0].name} .. {logs[-1].name}).")
    echo(f"Synthetic GeoIP (documentation ranges, not MaxMind data): {geoip_dir(cfg.data_dir)}")
    if cfg.timezone == "UTC":
        echo("Note: the site time zone is UTC; the example config (weblog.example.toml) "
             "uses Asia/Tokyo like the sample logs.")
    from .ingest import source_files

    generated = {p.resolve() for p in logs}
    covered = {Path(job[0]).resolve() for job in source_files(cfg)} & generated
    if cfg.sources and len(covered) < len(logs):
        echo(f"Note: no [[sources]] entry matches {len(logs) - len(covered)} sample file(s) in "
             f"{sample_dir(cfg.data_dir)}; ingesting them as combined logs without a vhost.")
    config_file = cfg.config_file
    if demo_cfg != cfg or config_file is None:
        config_file = sample_dir(cfg.data_dir) / DEMO_CONFIG_NAME
        config_file.write_text(to_toml(demo_cfg), encoding="utf-8")
        echo(f"Settings of this run (yours + the synthetic GeoIP files): {config_file}")
    # only the sample: a demo never ingests other files the configured sources match
    return DemoRun(config_file, [str(sample_dir(cfg.data_dir) / "access.log*")], logs)


def _tables(data_dir: Path) -> list[str]:
    path = warehouse.warehouse_path(data_dir)
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
    finally:
        con.close()


def where_to_look(cfg: Config) -> list[str]:
    """Lines saying where the demo's results are (only what this build produced)."""
    tables = _tables(cfg.data_dir)
    stats = [t for t in tables if t.startswith(("daily_", "hourly_"))]
    tiers = f"DETAIL (view `requests`), {len(stats)} statistics tables" if stats else \
        "DETAIL (view `requests`)"
    out = [f"Warehouse: {warehouse.warehouse_path(cfg.data_dir)} ({tiers})."]
    out.append("Read the statistics: `weblog stats` (the latest day), `weblog stats --day D`, "
               "`weblog export daily_traffic -o traffic.csv`." if stats else
               "Statistics: not available yet in this build (no daily_* tables).")
    if stats:
        from .report import write_report

        report = write_report(cfg)
        out.append(f"Report: {report.path} (one self-contained HTML file; open it in a browser).")
        out.append("Dashboard: `weblog serve`, then open http://127.0.0.1:8080 "
                   "(statistics and the audit page, from the published snapshot).")
    out.append("Retention: `weblog purge --dry-run --as-of D` lists what a day D lets go; "
               "`weblog audit verify` checks the promises and `weblog audit report` writes "
               "the deletion record (README: For auditors).")
    home = prefect_home(cfg.data_dir)
    out.append(f"Run receipt: Prefect artifact 'weblog-nightly', stored in {home}. To browse "
               f"runs and artifacts: PREFECT_HOME={home} prefect server start, then open "
               "http://127.0.0.1:4200")
    return out

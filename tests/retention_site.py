"""A small site for the retention tests: ten days of demo-like logs (documentation
addresses, host-name and IPv6 clients, rotated .gz files, a few malformed lines) with
synthetic GeoIP, ingested and aggregated as of AS_OF. Built once per session
(`retention_site`), copied for each test that changes it (`site`).

With raw_days 7 and detail_days 10, as of AS_OF (2026-11-15): the logs hold 2026-11-05 ..
2026-11-14; RAW holds 2026-11-08 .. 2026-11-14 (older lines were too old for RAW when
ingested); rejects sit in raw/rejects/date=2026-11-15/ (the ingest day).
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import lines, raw
from pipelines.aggregate import run_aggregate
from pipelines.config import Config, load_config
from pipelines.ingest import ingest_sources
from site_fixture import build_geoip, demo_logs, write_config

AS_OF = dt.date(2026, 11, 15)
DAYS = 10
FIRST_DAY = AS_OF - dt.timedelta(days=DAYS)
RETENTION = "[retention]\nraw_days = 7\ndetail_days = 10\n{extra}"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
BROKEN = ("203.0.113.250 this is no log line\n"
          "198.51.100.250 - - [14/Nov/2026:09:00:00 +0900] \"GET /cut\n"
          f'192.0.2.250 - - [14/Nov/2026:09:00:01 +0900] "GET /ok HTTP/1.1" 200 5 "-" "{UA}"\n')


def log_line(client: str, day: dt.date, second: int, path: str = "/late",
             ua: str = UA) -> str:
    """One combined-format line at `day` 10:00 +0900 plus `second` seconds."""
    stamp = f"{day:%d/%b/%Y}:10:{second // 60 % 60:02d}:{second % 60:02d} +0900"
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" 200 512 "-" "{ua}"\n'


def configure(root: Path, extra: str = "") -> Config:
    """(Re)write root/weblog.toml for the site in `root` and load it."""
    path = write_config(root, root / "logs", root / "geoip",
                        extra=RETENTION.format(extra=extra))
    return load_config(path)


def build(root: Path) -> Path:
    build_geoip(root / "geoip")
    demo_logs(root / "logs", days=DAYS, per_day=200)
    (root / "logs" / "access.log-broken").write_text(BROKEN)
    cfg = configure(root)
    ingest_sources(cfg, as_of=AS_OF)
    run_aggregate(cfg)
    return root


def copy(source: Path, target: Path, extra: str = "") -> Config:
    shutil.copytree(source, target, symlinks=True,
                    ignore=shutil.ignore_patterns(".weblog.lock"))
    return configure(target, extra)


@pytest.fixture(scope="session")
def retention_site(tmp_path_factory) -> Path:
    """The built site's folder. Shared: never change it, take `site` instead."""
    return build(tmp_path_factory.mktemp("retention-site"))


@pytest.fixture
def site(retention_site, tmp_path) -> Config:
    """A private copy of the site: its Config (data_dir = copy/data)."""
    return copy(retention_site, tmp_path / "site")


# --------------------------------------------------------------------------- looking at it

def raw_partition_days(cfg: Config) -> list[dt.date]:
    return list(raw.raw_days(cfg.data_dir))


def reject_partition_days(cfg: Config) -> list[dt.date]:
    return list(raw.reject_days(cfg.data_dir))


def query(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(Path(cfg.data_dir) / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder`: relative path -> (SHA-256, mtime_ns)."""
    return {str(p.relative_to(folder)): (lines.file_sha256(p), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".weblog.lock"}

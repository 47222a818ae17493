"""A small weblog site for flow tests: sample logs, synthetic GeoIP, a config file, and a
snapshot of everything an ingest writes (to compare two runs exactly)."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
from pathlib import Path

import duckdb

from pipelines.config import Config, load_config
from pipelines.geo import DEMO_NETWORKS, build_synthetic_databases
from pipelines.sample import generate_demo_logs

AS_OF = dt.date(2026, 11, 15)


def write_config(folder: Path, logs: Path, geoip: Path | None, *, name: str = "weblog.toml",
                 data_dir: str = "data", extra: str = "", pattern: str = "access.log*") -> Path:
    """A config like the example's, with its own data dir and sources."""
    geo = "" if geoip is None else (
        f'[geoip]\ncountry_db = "{geoip}/Synthetic-GeoLite2-Country.mmdb"\n'
        f'city_db = "{geoip}/Synthetic-GeoLite2-City.mmdb"\n'
        f'asn_db = "{geoip}/Synthetic-GeoLite2-ASN.mmdb"\n')
    path = folder / name
    path.write_text(f'data_dir = "{data_dir}"\ntimezone = "Asia/Tokyo"\n\n'
                    f'[anonymize]\nquery_keep = ["page"]\n\n{geo}\n{extra}\n'
                    f'[[sources]]\npath = "{logs}/{pattern}"\nformat = "combined"\n'
                    'vhost = "www.example.com"\n', encoding="utf-8")
    return path


def build_geoip(folder: Path) -> Path:
    build_synthetic_databases(folder, DEMO_NETWORKS)
    return folder


def demo_logs(folder: Path, days: int = 5, per_day: int = 300, as_of: dt.date = AS_OF,
              duplicates: bool = False) -> list[Path]:
    """Rotated sample logs ending the day before `as_of`; with `duplicates`, also a
    byte-identical copy and a decompressed copy of the oldest .gz file."""
    logs = generate_demo_logs(folder, end_day=as_of - dt.timedelta(days=1), days=days,
                              utc_offset="+0900", requests_per_day=per_day, seed=11)
    if duplicates:
        gz = next(p for p in logs if p.name.endswith(".gz"))
        same = folder / gz.name.replace(".gz", ".copy.gz")
        shutil.copy2(gz, same)
        plain = folder / gz.name.replace(".gz", ".plain")
        plain.write_bytes(gzip.decompress(gz.read_bytes()))
        st = gz.stat()  # copies made a second later: they sort after their original
        for copy in (same, plain):
            os.utime(copy, (st.st_atime, st.st_mtime + 1))
        logs += [same, plain]
    return logs


def snapshot(cfg: Config) -> dict:
    """Everything an ingest writes: DETAIL rows, ledger rows (minus wall-clock fields), and
    every RAW / rejects file with its rows."""
    out: dict = {}
    con = duckdb.connect(str(Path(cfg.data_dir) / "warehouse.duckdb"), read_only=True)
    try:
        out["requests"] = con.execute("SELECT * FROM requests ORDER BY ALL").fetchall()
        out["ledger"] = con.execute("SELECT * EXCLUDE (ingested_at, device) FROM ingested_files "
                                    "ORDER BY file_id").fetchall()
    finally:
        con.close()
    raw = Path(cfg.data_dir) / "raw"
    files = sorted(p for p in raw.rglob("*.parquet")
                   if not p.relative_to(raw).parts[0].startswith("."))
    reader = duckdb.connect()
    out["raw_files"] = [str(p.relative_to(raw)) for p in files]
    out["raw_rows"] = {str(p.relative_to(raw)): reader.execute(
        f"SELECT * FROM read_parquet('{p.as_posix()}', hive_partitioning = false) ORDER BY ALL"
    ).fetchall() for p in files}
    reader.close()
    out["staging_left"] = sorted(str(p.relative_to(raw)) for p in (raw / ".staging").rglob("*"))
    return out


def load(config: Path) -> Config:
    return load_config(config)

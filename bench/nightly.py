"""Benchmark: the nightly flow on the demo data, and what Prefect adds per flow run.

    python bench/nightly.py [--days 14] [--runs 3]

For each run, on a fresh data dir with the demo's sample logs (pipelines.sample, the
`weblog demo` set) and synthetic GeoIP files:
  1. `weblog ingest` of the sources (the library, serially, no Prefect);
  2. `weblog nightly` with threads, on a fresh PREFECT_HOME (the temporary server's first
     start migrates its database) and again on a used one;
  3. `weblog nightly --task-runner dask` (a local cluster).
Then, in this process under Prefect's test server, the cost of one flow run of a trivial
flow (with and without flow heartbeats) and of the nightly flow on already ingested data
(5 flow runs, nothing to do). Prints medians. Nothing here is a test.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEBLOG = [str(Path(sys.executable).parent / "weblog")]
AS_OF = dt.date(2026, 11, 15)


def _site(root: Path, days: int) -> Path:
    from pipelines.geo import DEMO_NETWORKS, build_synthetic_databases
    from pipelines.sample import generate_demo_logs

    generate_demo_logs(root / "logs", end_day=AS_OF - dt.timedelta(days=1), days=days)
    build_synthetic_databases(root / "geoip", DEMO_NETWORKS)
    config = root / "weblog.toml"
    text = (REPO / "weblog.example.toml").read_text()
    text = text.replace('"data/geoip/', '"geoip/').replace('"data/sample/', '"logs/')
    config.write_text(text)
    return config


def _timed(cmd: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_figures(days: int, runs: int) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out: dict[str, list[float]] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config = _site(root, days)
            date = ["--as-of", AS_OF.isoformat()]
            steps = [
                ("weblog ingest (library, serial)", ["ingest", *date], "serial"),
                ("weblog nightly, threads, fresh PREFECT_HOME", ["nightly", *date], "a"),
                ("weblog nightly, threads, used PREFECT_HOME", ["nightly", *date], "b"),
                ("weblog nightly --task-runner dask", ["nightly", "--task-runner", "dask",
                                                       *date], "c"),
            ]
            for label, args, data in steps:
                if label.endswith("used PREFECT_HOME"):  # same home as the run before
                    shutil.rmtree(root / "a" / "raw")
                    (root / "a" / "warehouse.duckdb").unlink()
                    data = "a"
                cmd = [*WEBLOG, "--config", str(config), "--data-dir", str(root / data), *args]
                out.setdefault(label, []).append(_timed(cmd, env, root))
    return out


def prefect_figures(days: int, runs: int) -> dict[str, list[float]]:
    from prefect import flow
    from prefect.settings import (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_HOME,
                                  temporary_settings)
    from prefect.testing.utilities import prefect_test_harness

    from flows.nightly import nightly

    @flow(persist_result=False)
    def trivial() -> int:
        return 1

    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, \
            temporary_settings(updates={PREFECT_HOME: tmp}), prefect_test_harness():
        config = _site(Path(tmp), days)
        nightly(config_file=str(config), as_of=AS_OF)  # ingest once
        for heartbeat in (None, 30):
            with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: heartbeat}):
                label = "heartbeat off" if heartbeat is None else "heartbeat on"
                for _ in range(runs * 5):
                    start = time.perf_counter()
                    trivial()
                    out.setdefault(f"trivial flow run, {label}", []).append(
                        time.perf_counter() - start)
                for _ in range(runs):
                    start = time.perf_counter()
                    nightly(config_file=str(config), as_of=AS_OF)
                    out.setdefault(f"nightly, nothing new (5 flow runs), {label}", []).append(
                        time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures = {**cli_figures(args.days, args.runs), **prefect_figures(args.days, args.runs)}
    print(f"demo data: {args.days} days (pipelines.sample defaults), medians of {args.runs}+ runs")
    for label, values in figures.items():
        print(f"  {label:<58} {statistics.median(values):7.2f} s")


if __name__ == "__main__":
    main()

"""Benchmark `weblog purge` and `weblog audit verify`: DAYS RAW days of LINES lines each.

    .venv/bin/python bench/purge.py --days 30 --lines 100000 --out /path/to/scratch

Generates one benchmark log per day (pipelines.sample.generate_bench_log) and ingests each
with a RAW window covering every day, aggregates them, then, as of the day after the last
one and with raw_days 7 and detail_days 14: times verify before the purge (RAW present:
every address is a needle), the dry run, the purge itself (DAYS-7 RAW partitions with
their SHA-256, DETAIL rows, the warehouse rewrite) and verify after it, and prints JSON.
The ingested data is copied aside first, so --reuse re-times the purge without ingesting.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.aggregate import run_aggregate  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.ingest import ingest_paths  # noqa: E402
from pipelines.purge import purge_expired  # noqa: E402
from pipelines.sample import generate_bench_log  # noqa: E402
from pipelines.verify import verify_retention  # noqa: E402

START = dt.date(2025, 1, 6)


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - started, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reuse", action="store_true", help="reuse the ingested copy in --out")
    args = ap.parse_args()
    last = START + dt.timedelta(days=args.days - 1)
    as_of = last + dt.timedelta(days=1)
    pristine = args.out / "ingested"
    ingest_cfg = Config(data_dir=pristine, timezone="UTC", raw_days=args.days + 1,
                        detail_days=args.days + 1)
    report: dict = {"days": args.days, "lines_per_day": args.lines}
    if not (args.reuse and pristine.exists()):
        shutil.rmtree(args.out, ignore_errors=True)
        started = time.perf_counter()
        for i in range(args.days):
            log = args.out / f"bench-{i:02d}.log"
            generate_bench_log(log, args.lines, seed=i + 1,
                               start=dt.datetime.combine(START + dt.timedelta(days=i), dt.time()))
            ingest_paths(ingest_cfg, [str(log)], as_of=as_of)
            log.unlink()
        run_aggregate(ingest_cfg)
        report["generate_ingest_aggregate_seconds"] = round(time.perf_counter() - started, 1)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    cfg = dataclasses.replace(ingest_cfg, data_dir=work, raw_days=7, detail_days=14)
    verdict, report["verify_before_seconds"] = _timed(verify_retention, cfg, as_of=as_of)
    report["verify_before"] = verdict.verdict
    report["needles"] = next(c.counts for c in verdict.checks if c.name == "leaks")
    _, report["dry_run_seconds"] = _timed(purge_expired, cfg, as_of=as_of, dry_run=True)
    result, report["purge_seconds"] = _timed(purge_expired, cfg, as_of=as_of)
    report["purged"] = {"raw_partitions": len(result.raw),
                        "raw_rows": sum(p["rows"] for p in result.raw),
                        "detail_rows": result.detail.get("rows", 0),
                        "warehouse_bytes": result.rewrite, "entries": len(result.entries)}
    verdict, report["verify_after_seconds"] = _timed(verify_retention, cfg, as_of=as_of)
    report["verify_after"] = verdict.verdict
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

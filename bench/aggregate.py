"""Benchmark `weblog aggregate`: DAYS days of LINES generated lines each.

    .venv/bin/python bench/aggregate.py --days 30 --lines 1000000 --out /path/to/scratch

Generates one benchmark log per day (pipelines.sample.generate_bench_log), ingests each
(the log is deleted after its ingest to bound disk use) with a RAW window covering every
day, then times the aggregation of one day and of all days, and prints JSON. Run it under
`/usr/bin/time -v` for peak memory. Reuses an existing --out folder's warehouse (add
--fresh to start over), so the aggregate can be re-timed without re-ingesting.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.aggregate import aggregate_days, detail_days  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.ingest import ingest_paths  # noqa: E402
from pipelines.sample import generate_bench_log  # noqa: E402
from pipelines import raw, warehouse  # noqa: E402

START = dt.date(2025, 1, 6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--skip-all", action="store_true", help="time one day only")
    args = ap.parse_args()
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    last = START + dt.timedelta(days=args.days - 1)
    cfg = Config(data_dir=args.out / "data", timezone="UTC", raw_days=args.days + 1,
                 detail_days=args.days + 1)
    report: dict = {"days": args.days, "lines_per_day": args.lines}
    if not warehouse.warehouse_path(cfg.data_dir).exists():
        started = time.perf_counter()
        for i in range(args.days):
            log = args.out / f"bench-{i:02d}.log"
            generate_bench_log(log, args.lines, seed=i + 1,
                               start=dt.datetime.combine(START + dt.timedelta(days=i), dt.time()))
            ingest_paths(cfg, [str(log)], as_of=last + dt.timedelta(days=1))
            log.unlink()
        report["generate_and_ingest_seconds"] = round(time.perf_counter() - started, 1)
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        days = detail_days(con, None, None)
        report["detail_rows"] = con.execute("select count(*) from requests").fetchall()[0][0]
        one = aggregate_days(con, cfg, [days[len(days) // 2]])
        report["one_day_seconds"] = round(one.seconds, 2)
        if not args.skip_all:
            every = aggregate_days(con, cfg, days)
            report["all_days_seconds"] = round(every.seconds, 1)
            report["all_days_exact"] = all(every.visitors_exact.values())
            report["rows"] = every.rows
    finally:
        con.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

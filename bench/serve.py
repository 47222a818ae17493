"""Benchmark `weblog serve`: answer times of the API and the dashboard over a 90-day range.

    .venv/bin/python bench/serve.py [--days 90] [--lines 20000] [--requests 40] [--out DIR]

Generates one benchmark log spanning DAYS days (LINES lines a day), ingests and aggregates
it (which publishes the snapshot the dashboard reads), starts a real `weblog serve` on a
free loopback port and asks it, over HTTP, REQUESTS times each:
  - /api/v1/daily_traffic and /api/v1/summary for a range of about DAYS days,
  - the dashboard's default page and quick ranges, once each, 5 s after the server
    started (it draws them ahead when a snapshot appears),
  - the dashboard page for a range it has not drawn yet (charts rendered) and
  - the dashboard page for a range it has drawn before (its page cache),
shifting the range by a day between requests, and prints p50, p95 and max per kind in ms.
Nothing here is a test: it prints figures for people to read.
"""
from __future__ import annotations

import argparse
import html
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.aggregate import run_aggregate  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.ingest import ingest_paths  # noqa: E402
from pipelines.sample import generate_bench_log  # noqa: E402

START = dt.date(2025, 1, 6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> float:
    """Milliseconds until the whole answer is read; a non-200 answer stops the benchmark."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"{url}: HTTP {answer.status}")
    return (time.perf_counter() - started) * 1000


def figures(ms: list[float]) -> dict:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ordered[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--lines", type=int, default=20_000, help="lines a day")
    ap.add_argument("--requests", type=int, default=40, help="requests of each kind")
    ap.add_argument("--out", type=Path, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="weblog-bench-serve-"))
    last = START + dt.timedelta(days=args.days - 1)
    cfg = Config(data_dir=out / "data", timezone="UTC", raw_days=args.days + 1,
                 detail_days=args.days + 1)
    report: dict = {"days": args.days, "lines_per_day": args.lines}
    shutil.rmtree(cfg.data_dir, ignore_errors=True)
    started = time.perf_counter()
    log = out / "bench.log"
    generate_bench_log(log, args.days * args.lines, days=args.days,
                       start=dt.datetime.combine(START, dt.time()))
    ingest_paths(cfg, [str(log)], as_of=last + dt.timedelta(days=1))
    log.unlink()
    run_aggregate(cfg)
    report["setup_seconds"] = round(time.perf_counter() - started, 1)

    port = free_port()
    env = {**os.environ, "WEBLOG_DATA_DIR": str(cfg.data_dir)}
    server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port)],
                              env=env, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                get(base + "/api/v1/audit")
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("weblog serve did not answer within 30 s")
        # the server draws the default and the quick ranges when a snapshot appears: give
        # it the time to, then time the first request of each (a reader's first clicks)
        time.sleep(5)
        first_clicks = [get(f"{base}/")]
        with urllib.request.urlopen(f"{base}/", timeout=60) as answer:
            links = re.findall(r'href="(/\?from=[^"]+)"', answer.read().decode())
        first_clicks += [get(base + html.unescape(link)) for link in links]
        span = max(1, args.days - args.requests // 4 - 1)

        def ranges():
            for i in range(args.requests):
                first = START + dt.timedelta(days=i % (args.days - span + 1))
                to = first + dt.timedelta(days=span - 1 + (i // (args.days - span + 1)) % 2)
                yield f"from={first}&to={min(to, last)}"

        kinds = {
            "dashboard_default_and_quick_ranges": first_clicks,
            "api_daily_traffic": [get(f"{base}/api/v1/daily_traffic?{q}") for q in ranges()],
            "api_summary": [get(f"{base}/api/v1/summary?{q}") for q in ranges()],
            "dashboard_first_render": [get(f"{base}/?{q}") for q in dict.fromkeys(ranges())],
            "dashboard_cached": [get(f"{base}/?{q}") for q in ranges()],
        }
    finally:
        server.terminate()
        server.wait(10)
    report["range_days"] = span
    report.update({kind: figures(ms) for kind, ms in kinds.items()})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

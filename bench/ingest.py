"""Benchmark: `weblog ingest` + `weblog aggregate` against GoAccess, side by side.

    python bench/ingest.py --lines 1000000 [--runs 3] [--keep]

Generates a deterministic, realistic combined log (pipelines.sample.generate_bench_log:
Zipf clients and paths, ~5% IPv6, bots, referrers, ~0.1% malformed lines) once under
bench/out/, then alternates, for each run:
  1. weblog ingest + weblog aggregate of that file into a fresh data dir,
  2. GoAccess (when the `goaccess` binary is installed) on the same file, JSON output,
and prints lines/s, peak RSS (of each process, from wait4) and the weblog/GoAccess ratio,
as medians over the runs, plus weblog's per-stage split from its --json output.
Nothing here is a test: it prints figures for people to read.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
WEBLOG = [sys.executable, "-m", "pipelines.cli"]


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int, str]:
    """Run a command; return (wall seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    # both streams go to files: a pipe left unread until the end fills up (64 KiB) and
    # blocks a chatty child (GoAccess prints progress to stderr) for ever
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errs:
        proc = subprocess.Popen(cmd, stdout=out, stderr=errs, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errs.seek(0)
        err = errs.read().decode(errors="replace")
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss // 1024, text


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def weblog_once(log: Path, as_of: str) -> dict:
    data = Path(tempfile.mkdtemp(prefix="weblog-bench-"))
    env = {**os.environ, "WEBLOG_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    env.pop("WEBLOG_CONFIG", None)
    try:
        # the format is named, as GoAccess is given --log-format=COMBINED (auto-detection
        # would add ~0.3 s per file)
        t_ing, rss_ing, out = run(WEBLOG + ["-q", "ingest", str(log), "--format", "combined",
                                            "--as-of", as_of, "--json"], env, cwd=data)
        results = json.loads(out)
        t_agg, rss_agg = 0.0, 0
        has_aggregate = subprocess.run(WEBLOG + ["aggregate", "--help"], env=env, cwd=data,
                                       capture_output=True).returncode == 0
        if has_aggregate:
            t_agg, rss_agg, _ = run(WEBLOG + ["-q", "aggregate", "--as-of", as_of, "--json"], env, cwd=data)
        stages: dict[str, float] = {}
        for r in results:
            for k, v in (r.get("timings") or {}).items():
                stages[k] = stages.get(k, 0.0) + v
        return {"ingest": t_ing, "aggregate": t_agg, "total": t_ing + t_agg,
                "rss": max(rss_ing, rss_agg), "stages": stages, "aggregated": has_aggregate,
                "parsed": sum(r["lines_parsed"] for r in results),
                "rejected": sum(r["lines_rejected"] for r in results)}
    finally:
        shutil.rmtree(data, ignore_errors=True)


def goaccess_once(log: Path) -> dict | None:
    exe = shutil.which("goaccess")
    if not exe:
        return None
    with tempfile.TemporaryDirectory(prefix="goaccess-bench-") as tmp:
        report = Path(tmp) / "report.json"
        wall, rss, _ = run([exe, str(log), "--log-format=COMBINED", "--no-global-config",
                            "-o", str(report)])
    return {"total": wall, "rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--days", type=int, default=1, help="days the generated log spans")
    ap.add_argument("--keep", action="store_true", help="keep the generated log")
    ap.add_argument("--no-goaccess", action="store_true",
                    help="skip the GoAccess reference runs (e.g. 20M lines: GoAccess takes minutes)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    from pipelines.sample import generate_bench_log

    OUT.mkdir(exist_ok=True)
    log = OUT / f"bench-{args.lines}-{args.days}d.log"
    if not log.exists():
        t = time.perf_counter()
        info = generate_bench_log(log, args.lines, days=args.days)
        print(f"generated {log.name}: {info['lines']:,} lines ({info['malformed']:,} malformed), "
              f"{info['bytes'] / 2**20:.0f} MiB in {time.perf_counter() - t:.1f} s")
    import datetime as dt
    as_of = (dt.date(2025, 1, 6) + dt.timedelta(days=args.days)).isoformat()

    print(f"machine: {machine()}")
    weblog_runs, goaccess_runs = [], []
    for i in range(args.runs):
        w = weblog_once(log, as_of)
        weblog_runs.append(w)
        g = None if args.no_goaccess else goaccess_once(log)
        if g:
            goaccess_runs.append(g)
        print(f"run {i + 1}: weblog {w['total']:.2f} s ({w['rss']} MiB)"
              + (f", goaccess {g['total']:.2f} s ({g['rss']} MiB)" if g else ""))

    med = lambda xs: statistics.median(xs)  # noqa: E731
    n = args.lines
    wt = med([w["total"] for w in weblog_runs])
    print(f"\n{n:,} lines, median of {args.runs} runs")
    print(f"weblog ingest+aggregate: {wt:.2f} s = {n / wt:,.0f} lines/s, peak RSS "
          f"{max(w['rss'] for w in weblog_runs)} MiB "
          f"(ingest {med([w['ingest'] for w in weblog_runs]):.2f} s, "
          f"aggregate {med([w['aggregate'] for w in weblog_runs]):.2f} s"
          + ("" if weblog_runs[0]["aggregated"] else ", no aggregate command yet") + ")")
    print(f"  parsed {weblog_runs[0]['parsed']:,}, rejected {weblog_runs[0]['rejected']:,}")
    if weblog_runs[0]["stages"]:
        keys = weblog_runs[0]["stages"].keys()
        split = ", ".join(f"{k} {med([w['stages'].get(k, 0) for w in weblog_runs]):.2f}" for k in keys)
        print(f"  ingest stages (s): {split}")
    if goaccess_runs:
        gt = med([g["total"] for g in goaccess_runs])
        print(f"goaccess {n:,} lines: {gt:.2f} s = {n / gt:,.0f} lines/s, peak RSS "
              f"{max(g['rss'] for g in goaccess_runs)} MiB")
        print(f"ratio weblog/goaccess throughput: {gt / wt:.2f}x; "
              f"memory {max(w['rss'] for w in weblog_runs) / max(g['rss'] for g in goaccess_runs):.2f}x")
    elif not args.no_goaccess:
        print("goaccess not installed (apt-get install goaccess): no reference run")
    if not args.keep and n > 5_000_000:
        log.unlink()


if __name__ == "__main__":
    main()

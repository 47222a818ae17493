"""Benchmark: parse speed of every log format preset (the vectorised parse alone).

    python bench/formats.py [--lines 1000000] [--formats combined,w3c,caddy] [--runs 3]

For each preset, writes a file of --lines lines under bench/out/formats/ made from the
preset's example line (clients, paths and sizes varied; W3C/CloudFront get their header),
then reads it the way ingest does (pipelines.lines chunks, `bind`, `parse_sql`,
materialised as Arrow) and prints lines/s, median of --runs. Detection of each file is
timed too. Nothing here is a test: it prints figures for people to read.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import duckdb  # noqa: E402

from pipelines import lines  # noqa: E402
from pipelines.detect import detect_file  # noqa: E402
from pipelines.formats import PRESETS, get_format  # noqa: E402
from pipelines.parse import parse_sql  # noqa: E402

OUT = HERE / "out" / "formats"


def write(name: str, n: int) -> Path:
    path = OUT / f"{name}-{n}.log"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    example = PRESETS[name].example.split("\n")
    header, line = example[:-1], example[-1]
    rng = random.Random(1)
    clients = [f"192.0.2.{i}" for i in range(1, 255)] + [f"2001:db8::{i:x}" for i in range(1, 60)]
    with open(path, "w", encoding="utf-8") as out:
        for h in header:
            out.write(h + "\n")
        block = []
        for i in range(n):
            block.append(line.replace("192.0.2.10", rng.choice(clients))
                         .replace("/docs/", f"/docs/{rng.randrange(5000)}/")
                         .replace("5120", str(rng.randrange(100000))) + "\n")
            if len(block) == 10000:
                out.write("".join(block))
                block = []
        out.write("".join(block))
    return path


def parse_file(path: Path, name: str) -> int:
    fmt = get_format(name)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stats = lines.ReadStats()
    carry = None
    parsed = 0
    with open(path, "rb") as handle:
        stream, _ = lines.open_decompressed(handle)
        for chunk in lines.iter_chunks(stream, stats):
            bound, carry = fmt.bind(chunk.table, carry)
            con.register("chunk_lines", chunk.table)
            table = con.sql(parse_sql(bound, "chunk_lines", "UTC")).to_arrow_table()
            parsed += table.num_rows
            con.unregister("chunk_lines")
    con.close()
    return parsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--formats", default=",".join(PRESETS))
    args = ap.parse_args()
    print(f"{'format':<30}{'lines/s':>12}{'seconds':>10}{'detect s':>10}")
    for name in args.formats.split(","):
        path = write(name, args.lines)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            parse_file(path, name)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = detect_file(path)
        detect = time.perf_counter() - start
        wall = statistics.median(times)
        note = "" if found.format and found.format.name == name else \
            f"  (detected: {found.format.name if found.format else '-'})"
        print(f"{name:<30}{args.lines / wall:>12,.0f}{wall:>10.2f}{detect:>10.2f}{note}", flush=True)


if __name__ == "__main__":
    main()

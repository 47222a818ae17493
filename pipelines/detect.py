"""Format auto-detection: which preset reads a file's first lines.

The sample is the first `SAMPLE_LINES` lines (at most `SAMPLE_BYTES` of content). A last
line without its newline is left out unless nothing else tells (it may still be written,
or be junk appended to the file). Every detectable preset parses the sample with the real
parser (so detection and ingest can never disagree); blank lines, comments, W3C directives
and non-request records of the producer (Caddy's other loggers, HAProxy's "Proxy started")
are not counted. Presets are tried from the most to the least specific (PRESETS order); the
winner is the first one that

- reads at least `THRESHOLD` (90%) of the counted lines, or all but one of them in samples
  of fewer than ten; and
- reads about as many lines as the best candidate (at most 1% of them fewer): a rare
  truncated line that `common` still reads must not demote `combined` to `common`, but a
  file where only most lines carry nginx's extra X-Forwarded-For field is `combined`.

A winner must not rival a candidate that reads *other* lines (neither set contains the
other: a small file mixing two formats). Otherwise there is no answer, and the message names the best candidates and their match
rates, never a silent mis-parse. A sample with no log lines at all (an empty file, a W3C
header block alone) is undecided unless it has a `#Fields:` header.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from . import lines as lines_mod
from .errors import InputError
from .formats import PRESETS, detectable_presets, get_format
from .parse import NOT_ACCESS, LogFormat, parse_sql

SAMPLE_LINES = 200
SAMPLE_BYTES = 1 << 20
THRESHOLD = 0.9
SMALL_SAMPLE = 10  # fewer counted lines than this: all but one must be read
SLACK = 0.01  # a more specific format may read this share of lines fewer than the best
IGNORED = ("blank line", "comment line", "W3C directive line", NOT_ACCESS)


@dataclass(frozen=True)
class Candidate:
    name: str
    matched: int
    judged: int
    lines: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    @property
    def rate(self) -> float:
        return self.matched / self.judged if self.judged else 0.0


@dataclass(frozen=True)
class Detection:
    """What detection found: `format` is None when it cannot tell (see `reason`)."""

    format: LogFormat | None
    reason: str
    sampled: int
    candidates: tuple[Candidate, ...]
    whole_file: bool = False  # the sample is all of the file

    @property
    def no_lines(self) -> bool:
        """Nothing to read yet: the whole file has no log lines (empty, comments only)."""
        return self.format is None and self.whole_file and all(
            c.judged == 0 for c in self.candidates)

    def require(self, shown: str) -> LogFormat:
        """The format, or one InputError that names the best candidates."""
        if self.format is None:
            raise InputError(f"Cannot tell the log format of {shown}: {self.reason}. "
                             "Give it with --format or `format = ...` in [[sources]] "
                             "(`weblog formats` lists them).")
        return self.format


def sample_table(stream, limit: int = SAMPLE_LINES) -> pa.Table:
    """The first lines of a decompressed stream as a (line_no, line) table."""
    stats = lines_mod.ReadStats()
    tables, rows = [], 0
    for chunk in lines_mod.iter_chunks(stream, stats, chunk_bytes=SAMPLE_BYTES):
        tables.append(chunk.table)
        rows += chunk.num_lines
        if rows >= limit:
            break
    if not tables:
        return pa.table({"line_no": pa.array([], pa.int64()),
                         "line": pa.array([], pa.large_string())})
    return pa.concat_tables(tables).slice(0, limit).combine_chunks()


def sample_file(path: Path, limit: int = SAMPLE_LINES) -> pa.Table:
    with open(path, "rb") as handle:
        stream, _ = lines_mod.open_decompressed(handle)
        return sample_table(stream, limit)


def _rejects(con: duckdb.DuckDBPyConnection, fmt: LogFormat, table: pa.Table) -> list[tuple]:
    bound, _ = fmt.bind(table, None)
    return con.execute(f"SELECT line_no, reject FROM ({parse_sql(bound, 'sample', 'UTC')})"
                       ).fetchall()


def detect_table(table: pa.Table, names: list[str] | None = None) -> Detection:
    """Detect the format of a sample (a table of line_no, line)."""
    texts = table.column("line").to_pylist()
    # a last line without its newline may be unfinished or junk: it counts only when no
    # other line tells anything
    tail = table.column("line_no")[-1].as_py() if texts and not texts[-1].endswith("\n") \
        else None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("sample", table)
        rows = {name: _rejects(con, get_format(name), table)
                for name in names or detectable_presets()}
    finally:
        con.close()

    def candidates(skip: int | None) -> list[Candidate]:
        out = []
        for name, found in rows.items():
            judged = [(n, r) for n, r in found if r not in IGNORED and n != skip]
            matched = frozenset(n for n, r in judged if r is None)
            out.append(Candidate(name, len(matched), len(judged), matched))
        return out

    decided = _decide(candidates(tail), len(texts), texts)
    if tail is not None and decided.format is None and all(
            c.judged == 0 for c in decided.candidates):
        decided = _decide(candidates(None), len(texts), texts)
    return decided


def _acceptable(c: Candidate) -> bool:
    misses = c.judged - c.matched
    return c.judged > 0 and (c.rate >= THRESHOLD
                             or (c.judged < SMALL_SAMPLE and misses <= 1 and c.matched >= 1))


def _decide(candidates: list[Candidate], sampled: int, texts: list[str]) -> Detection:
    """`candidates` in specificity order (most specific first)."""
    ranked = sorted(candidates, key=lambda c: -c.rate)  # stable: specificity breaks ties
    best = ranked[0] if ranked else None
    if best is None or best.judged == 0:
        header = next((t for t in texts if t.startswith("#Fields:")), None)
        if header is not None:
            name = "cloudfront" if "x-edge-location" in header else "w3c"
            return Detection(get_format(name), f"a W3C #Fields header ({name}) and no log "
                             "lines yet", sampled, tuple(ranked))
        return Detection(None, f"no log lines in the first {sampled} lines", sampled, tuple(ranked))
    top = ", ".join(f"{c.name} {c.rate:.0%}" for c in ranked[:3] if c.judged)
    # the most specific format that reads about as many lines as the best one: a rare
    # truncated line must not demote combined to common
    slack = math.floor(best.judged * SLACK)
    fits = [c for c in candidates if _acceptable(c) and c.matched >= best.matched - slack]
    if not fits:
        if best.matched == 0:
            return Detection(None, f"no known format reads its first {best.judged} lines",
                             sampled, tuple(ranked))
        return Detection(None, f"no format reads {THRESHOLD:.0%} of its first {best.judged} "
                         f"lines (best: {top}); the file may mix formats or use a custom one",
                         sampled, tuple(ranked))
    winner = fits[0]
    rivals = [c for c in fits[1:] if not (c.lines <= winner.lines or winner.lines <= c.lines)]
    if rivals:
        return Detection(None, f"its lines fit different formats ({winner.name} "
                         f"{winner.rate:.0%}, {rivals[0].name} {rivals[0].rate:.0%} of "
                         f"{winner.judged} lines); it may mix formats", sampled, tuple(ranked))
    others = ", ".join(f"{c.name} {c.rate:.0%}" for c in ranked if c is not winner)
    return Detection(get_format(winner.name), f"{winner.name} reads {winner.matched} of "
                     f"{winner.judged} counted lines ({winner.rate:.0%}) and is the most "
                     f"specific format that does; next: {', '.join(others.split(', ')[:2])}",
                     sampled, tuple(ranked))


def detect_file(path: Path) -> Detection:
    table = sample_file(path)
    found = detect_table(table)
    return replace(found, whole_file=table.num_rows < SAMPLE_LINES)


def resolve(fmt: LogFormat, path: Path, shown: str, previous: str | None = None
            ) -> LogFormat | None:
    """The format to read `path` with: `fmt` itself unless it is 'auto'; then the format an
    earlier piece of the same content was read with, else detection. None when the file
    has no log lines yet (nothing to read); InputError when detection cannot tell."""
    if fmt.kind != "auto":
        return fmt
    if previous:
        try:
            return get_format(previous)
        except InputError:
            pass  # a format string recorded by name only: detect again
    found = detect_file(path)
    if found.no_lines:
        return None
    return found.require(shown)


def describe(name: str) -> str:
    preset = PRESETS.get(name)
    return preset.description if preset else ""

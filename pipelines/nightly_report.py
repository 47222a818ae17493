"""The nightly run's receipt: one Markdown page (published as a Prefect artifact).

The nightly flow collects a summary of plain values (counts, dates, file names, verdicts)
and this module renders it; it never sees log content, so the page cannot hold any. Every
value is Markdown-escaped anyway: file names are chosen by whoever writes the log folder.

Summary keys: as_of, timezone, stats_day, status ("completed" | "failed"), problems (list of
one-sentence strings), stats (rows of `daily_traffic` for stats_day, or None when the
statistics tier is absent), and one entry per step — ingest (list of per-file results),
aggregate, purge, verify — each a mapping with "status" ("done", "failed", or
NOT_AVAILABLE when that part of weblog is not installed yet) and the step's own counts.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

NOT_AVAILABLE = "not available yet"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_RECONCILIATION = ("file", "status", "read", "parsed", "rejected", "too old", "days")


def md(value: Any) -> str:
    """A value as inert Markdown text (no markup, no HTML, no line breaks)."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return md(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(md(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_num(v) for v in row) + " |" for row in rows]
    return out


def _days(days: Sequence[str]) -> str:
    if not days:
        return ""
    return days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)})"


def _file_rows(files: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for f in files:
        status = f.get("status", "")
        if f.get("duplicate_of"):
            status = f"{status} (as {Path(str(f['duplicate_of'])).name})"
        if f.get("error"):
            status = f"{status}: {f['error']}"
        rows.append([Path(str(f.get("path", ""))).name, status, f.get("lines_read", 0),
                     f.get("lines_parsed", 0), f.get("lines_rejected", 0),
                     f.get("lines_too_old", 0), _days(f.get("days") or [])])
    return rows


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, dt.date))


def _mapping(step: Mapping[str, Any]) -> list[str]:
    """A step's result: scalars as a two-column table, lists of records as tables."""
    out: list[str] = []
    scalars = [(k, v) for k, v in step.items() if _scalar(v) and k != "status"]
    if scalars:
        out += _table(("", "value"), scalars)
    for key, value in step.items():
        if isinstance(value, Sequence) and not isinstance(value, str) and value:
            if all(isinstance(v, Mapping) for v in value):
                header = list(dict.fromkeys(k for v in value for k in v))
                out += ["", f"**{md(key)}**", ""]
                out += _table(header, [[v.get(h) for h in header] for v in value])
            else:
                out += ["", f"**{md(key)}**: " + ", ".join(md(v) for v in value)]
        elif isinstance(value, Mapping) and value:
            out += ["", f"**{md(key)}**", ""] + _table(("", "value"), list(value.items()))
    return out


def _purge_body(step: Mapping[str, Any]) -> list[str]:
    """The purge receipt (pipelines.purge.PurgeResult): what went, what stayed, the entries."""
    out = [f"As of {md(step.get('as_of'))}: RAW and rejects before {md(step.get('raw_cutoff'))}, "
           f"DETAIL before {md(step.get('detail_cutoff'))}.", ""]
    raw_parts, rejects = step.get("raw") or [], step.get("rejects") or []
    detail = step.get("detail") or {}
    sources = step.get("sources") or []
    rows = [["RAW day partitions", len(raw_parts), sum(p.get("rows", 0) for p in raw_parts),
             _days([p["name"] for p in raw_parts])],
            ["rejects partitions", len(rejects), sum(p.get("rows", 0) for p in rejects),
             _days([p["name"] for p in rejects])],
            ["DETAIL days", detail.get("days", 0), detail.get("rows", 0),
             _days(list(dict.fromkeys(d for d in (detail.get("first_day"),
                                                  detail.get("last_day")) if d)))],
            ["source logs", len(sources), "", ", ".join(s.get("name", "") for s in sources)
             if step.get("sources_enabled") else "not enabled"]]
    out += _table(("removed", "count", "rows", "which"), rows)
    rewrite = step.get("rewrite") or {}
    if rewrite.get("bytes_after"):
        out += ["", f"Warehouse rewritten into a fresh file: {_num(rewrite.get('bytes_before'))} "
                f"→ {_num(rewrite.get('bytes_after'))} bytes (deleted rows leave its bytes)."]
    if step.get("aggregated"):
        out += ["", "Statistics computed first for: " + ", ".join(md(d) for d in step["aggregated"])]
    for k in step.get("kept") or []:
        out.append(f"- kept {md(k.get('what'))} {md(k.get('name'))}: {md(k.get('reason'))}")
    for name in step.get("sources_never_ingested") or []:
        out.append(f"- kept source log {md(name)}: never ingested in its current form")
    for p in step.get("problems") or []:
        out.append(f"- problem: {md(p)}")
    entries = step.get("entries") or []
    out += ["", "**Ledger entries**", ""]
    if entries:
        out += ["| # | action | result | cutoff | entry hash |", "|---|---|---|---|---|"]
        out += [f"| {md(e.get('sequence'))} | {md(e.get('action'))} | {md(e.get('result'))} | "
                f"{md(e.get('cutoff') or '')} | `{md(e.get('hash'))}` |" for e in entries]
    else:
        out.append("_Nothing was past its retention window: no entry._")
    return out


def _verify_body(step: Mapping[str, Any]) -> list[str]:
    """The verification verdict (pipelines.verify.Verdict): checks and masked evidence."""
    out = [f"Verdict: **{md(step.get('verdict'))}** as of {md(step.get('as_of'))} · ledger "
           f"{md(step.get('ledger_entries'))} entries, head `{md(step.get('ledger_head'))}`", ""]
    out += _table(("check", "result", "summary"),
                  [[c.get("title"), "PASS" if c.get("passed") else "FAIL", c.get("summary")]
                   for c in step["checks"]])
    for c in step["checks"]:
        if c.get("evidence"):
            out += ["", f"Evidence for {md(c.get('name'))} ({md(c.get('evidence_total'))} in all):"]
            out += [f"- {md(e)}" for e in c["evidence"]]
    return out


def _step(title: str, step: Mapping[str, Any] | None) -> list[str]:
    out = ["", f"## {title}", ""]
    if not step:
        return out + ["_not run_"]
    status = step.get("status", "")
    if status == NOT_AVAILABLE:
        return out + [f"_{NOT_AVAILABLE}: this part of weblog is not installed in this build._"]
    out.append(f"Status: **{md(status)}**")
    if "entries" in step and "raw_cutoff" in step:
        body = _purge_body(step)
    elif step.get("checks") and all("summary" in c for c in step["checks"]):
        body = _verify_body(step)
    else:
        body = _mapping(step)
    return out + ([""] + body if body else [])


def render_markdown(summary: Mapping[str, Any]) -> str:
    """The nightly run's Markdown page."""
    status = summary.get("status", "completed")
    out = [f"# weblog nightly run, as of {md(summary.get('as_of'))}",
           "",
           f"Result: **{md(status.upper())}** · site time zone {md(summary.get('timezone'))}"]
    for problem in summary.get("problems") or []:
        out.append(f"- {md(problem)}")

    out += ["", f"## Statistics of {md(summary.get('stats_day'))}", ""]
    stats = summary.get("stats")
    if stats is None:
        out.append(f"_{NOT_AVAILABLE}: the statistics tier is not installed in this build._")
    elif not stats:
        out.append("_No statistics for this day._")
    else:  # one column per vhost, one row per figure: readable with many figures
        figures = [k for k in stats[0] if k not in ("day", "vhost")]
        out += _table(["", *(row.get("vhost", "") for row in stats)],
                      [[k, *(row.get(k) for row in stats)] for k in figures])

    files = summary.get("ingest") or []
    out += ["", "## Ingest reconciliation", "",
            "Every file reconciles: read = parsed + rejected; *too old* lines are older than "
            "the RAW window and went to DETAIL only.", ""]
    if files:
        out += _table(_RECONCILIATION, _file_rows(files))
        totals = [sum(int(f.get(k, 0) or 0) for f in files)
                  for k in ("lines_read", "lines_parsed", "lines_rejected", "lines_too_old")]
        out.append(f"| **total** | {len(files)} files | "
                   + " | ".join(_num(t) for t in totals) + " | |")
    else:
        out.append("_No new files._")

    out += _step("Aggregate", summary.get("aggregate"))
    out += _step("Purge receipt", summary.get("purge"))
    out += _step("Verify", summary.get("verify"))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- statistics

def headline_stats(con: duckdb.DuckDBPyConnection, day: dt.date) -> list[dict[str, Any]] | None:
    """Rows of `daily_traffic` for `day` (one per vhost), or None before that table exists."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'main' AND table_name = 'daily_traffic'"
                         ).fetchall()[0][0]
    if not exists:
        return None
    cursor = con.execute("SELECT * FROM daily_traffic WHERE day = ? ORDER BY ALL", [day])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]

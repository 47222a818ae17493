"""`weblog report`: one self-contained HTML file of a period's statistics.

The file works offline and fetches nothing: the stylesheet is inlined, the charts are
inline SVG rendered by vl-convert (pipelines.charts), there is no script, no web font
and no image URL. A Content-Security-Policy in the file itself (`default-src 'none'`,
the inline stylesheet allowed by its hash) stops a browser from running or fetching
anything even if a value ever slipped through escaping. Every value from the logs goes
through Jinja2's autoescape (pipelines.pages).

Data comes from the STATS tables only (pipelines.views), read from the warehouse
read-only. The file is written under a temporary name beside its destination and
renamed into place, so a reader never sees half a report.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from . import charts, pages, views
from .config import Config
from .errors import InputError, writing

REPORTS_DIR = "reports"


@dataclass
class ReportResult:
    path: Path
    period: views.Period
    vhost: str | None
    seconds: float


def version() -> str:
    try:
        return metadata.version("weblog")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "dev"


def exactness_note(totals: dict[str, Any], previous: dict[str, Any]) -> str:
    """Why visitor figures of different days may not compare, or ''."""
    days, exact = totals["days"] or 0, totals["exact_days"] or 0
    notes = []
    if days and exact < days:
        notes.append(f"Visitors are exact on {exact} of {days} days; on the others the RAW "
                     "data was already purged and they are an anonymised approximation "
                     "(usually lower).")
    prev_days, prev_exact = previous["days"] or 0, previous["exact_days"] or 0
    if days and prev_days and (exact == days) != (prev_exact == prev_days):
        notes.append(f"The previous period has exact visitors on {prev_exact} of {prev_days} "
                     "days, so the change in visitors compares different methods.")
    return " ".join(notes)


def page_context(con: duckdb.DuckDBPyConnection, cfg: Config, period: views.Period,
                 vhost: str | None, top: int = 15, now: dt.datetime | None = None,
                 draw: charts.Draw = charts.draw_here) -> dict[str, Any]:
    """Template context of the shared views (report and dashboard). `draw` draws the
    charts (the report: in this process; the dashboard: on its chart workers, each chart
    started as soon as its data is read)."""
    page_charts = charts.PageCharts(draw)
    data = views.collect(con, period, vhost, top, ready=page_charts.ready)
    drawn = page_charts.svgs()
    return {
        **data,
        "charts": {name: pages.trusted(svg) for name, svg in drawn.items()},
        "legends": charts.chart_legends(data),
        "exactness_note": exactness_note(data["totals"], data["previous_totals"]),
        "policy": cfg.policy(),
        "timezone": cfg.timezone,
        "generated_at": now or dt.datetime.now(dt.timezone.utc),
        "version": version(),
    }


def report_csp(css: str) -> str:
    """The report's own policy: nothing may load or run, except its inline stylesheet."""
    return (f"default-src 'none'; style-src {pages.csp_hash(css)}; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def render_report(con: duckdb.DuckDBPyConnection, cfg: Config, period: views.Period,
                  vhost: str | None = None, top: int = 15,
                  now: dt.datetime | None = None) -> str:
    """The report's HTML."""
    css = pages.stylesheet()
    context = page_context(con, cfg, period, vhost, top, now)
    template = pages.environment().get_template("report.html")
    return template.render(**context, css=pages.trusted(css), csp=report_csp(css),
                           source="Statistics tables of the warehouse (no per-request data).")


def default_output(data_dir: Path, period: views.Period, vhost: str | None) -> Path:
    """DATA_DIR/reports/report-FROM-TO[-VHOST].html (the vhost reduced to safe characters)."""
    name = f"report-{period.start}-{period.end}"
    if vhost:
        name += "-" + (re.sub(r"[^A-Za-z0-9.-]+", "_", vhost).strip("._") or "vhost")[:80]
    return Path(data_dir) / REPORTS_DIR / f"{name}.html"


def write_atomically(path: Path, text: str) -> None:
    """Write beside `path`, fsync, rename into place: readers see the old file or the new."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with writing(tmp), open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(cfg: Config, *, start: dt.date | None = None, end: dt.date | None = None,
                 vhost: str | None = None, output: Path | None = None,
                 top: int = 15) -> ReportResult:
    """`weblog report`: render the period (default: the last 30 days with statistics) and
    write it to `output` (default: DATA_DIR/reports/report-FROM-TO.html)."""
    from .warehouse import connect

    started = time.perf_counter()
    con = connect(cfg.data_dir, read_only=True)
    try:
        period = views.resolve_period(con, start, end)
        if vhost is not None and vhost not in views.vhosts(con):
            raise InputError(f"No statistics for vhost {vhost!r}; `weblog stats` lists the "
                             "vhosts that have some.")
        html = render_report(con, cfg, period, vhost, top)
    finally:
        con.close()
    path = Path(output) if output else default_output(cfg.data_dir, period, vhost)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name with -o.")
    if output is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise InputError(f"No such folder: {path.parent}.")
    write_atomically(path, html)
    return ReportResult(path, period, vhost, time.perf_counter() - started)

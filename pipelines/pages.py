"""HTML pages shared by the report and the dashboard: Jinja2 environment, filters, tables.

Autoescape is on for every template, and nothing from a log is ever marked safe: only
our own CSS and the charts' SVG (checked by pipelines.charts.checked_svg) are inserted
as markup. Filters return plain strings, so their output is escaped like any value.

`TABLES` describes every breakdown table once (title, columns, how to show each cell);
the report and the dashboard render the same list with the same macro.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"


# --------------------------------------------------------------------------- filters

def fmt_int(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{value:,}"


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{value} B"  # pragma: no cover


def fmt_pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_ms(value: Any) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def fmt_value(value: Any, kind: str) -> str:
    """A cell or card value shown as text, by kind (int, bytes, pct, ms, list, text)."""
    if kind == "int":
        return fmt_int(value)
    if kind == "bytes":
        return fmt_bytes(value)
    if kind == "pct":
        return fmt_pct(value)
    if kind == "ms":
        return fmt_ms(value)
    if kind == "list":
        return ", ".join(str(v) for v in value) if value else ""
    if kind == "bool":
        return "yes" if value else ""
    return "–" if value is None else shorten(str(value))


MAX_TEXT = 300  # characters of a value from the logs shown in a cell (a path can be 10 MB)


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters with an ellipsis (the API keeps the full value)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_change(card: dict[str, Any]) -> str:
    """'+12.3%' against the previous period ('+1.2 pp' for shares); '' without one."""
    change = card.get("change")
    if change is None:
        return ""
    if card["format"] == "pct":
        return f"{change * 100:+.1f} pp"
    return f"{change * 100:+.1f}%"


def change_class(card: dict[str, Any]) -> str:
    """good | bad | flat | '' (no previous figure) for a card's change."""
    change = card.get("change")
    if change is None:
        return ""
    if abs(change) < 0.005 or card.get("good") is None:
        return "flat"
    rising = change > 0
    return "good" if rising == (card["good"] == "up") else "bad"


def fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def bar_width(value: Any, rows: list[dict], key: str) -> float:
    """Width (0-100) of a cell's bar: its share of the column's largest value."""
    top = max((r.get(key) or 0 for r in rows), default=0)
    return round(100 * (value or 0) / top, 1) if top else 0.0


# --------------------------------------------------------------------------- tables

@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | path | int | bytes | pct | list | bool
    bar: bool = False   # draw a share-of-maximum bar under the number


@dataclass(frozen=True)
class Table:
    key: str    # views.breakdowns key
    title: str
    columns: tuple[Column, ...]
    note: str = ""
    group: str = ""


def _c(key: str, label: str, kind: str = "text", bar: bool = False) -> Column:
    return Column(key, label, kind, bar)


TABLES: tuple[Table, ...] = (
    Table("pages", "Top pages", (_c("path", "page", "path"),
                                 _c("pageviews", "pageviews", "int", True),
                                 _c("visitors", "visitors", "int"), _c("hits", "hits", "int"),
                                 _c("bytes", "bytes", "bytes")),
          "Pages only (no assets), by pageviews.", "pages"),
    Table("broken_links", "Broken links", (_c("referrer_path", "page with the link", "path"),
                                           _c("path", "missing target", "path"),
                                           _c("hits", "hits", "int", True),
                                           _c("visitors", "visitors", "int")),
          "404s requested from a page of this site: fix the link on the first page.", "content"),
    Table("not_found", "Not found (404)", (_c("path", "path", "path"),
                                           _c("hits", "hits", "int", True),
                                           _c("bot_hits", "by bots", "int"),
                                           _c("from_sites", "linked from sites", "list")),
          "Every 404, including probes for files that never existed.", "content"),
    Table("errors", "Server errors (5xx)", (_c("path", "path", "path"), _c("status", "status"),
                                           _c("hits", "hits", "int", True),
                                           _c("visitors", "visitors", "int")),
          "", "content"),
    Table("status", "Status codes", (_c("status", "status"), _c("hits", "hits", "int", True),
                                     _c("bot_hits", "by bots", "int"),
                                     _c("bytes", "bytes", "bytes")),
          "", "status"),
    Table("channels", "Channels", (_c("referrer_class", "channel"),
                                   _c("pageviews", "pageviews", "int", True),
                                   _c("visitors", "visitors", "int"), _c("hits", "hits", "int")),
          "Where visits came from: no referrer (direct), this site (internal), search, "
          "social, other sites (external).", "acquisition"),
    Table("referrers", "Referring sites", (_c("referrer_domain", "site"),
                                           _c("pageviews", "pageviews", "int", True),
                                           _c("visitors", "visitors", "int")),
          "External sites by registered domain.", "acquisition"),
    Table("search_social", "Search and social", (_c("referrer_domain", "site"),
                                                 _c("referrer_class", "channel"),
                                                 _c("pageviews", "pageviews", "int", True),
                                                 _c("visitors", "visitors", "int")),
          "", "acquisition"),
    Table("countries", "Countries", (_c("country", "country"),
                                     _c("visitors", "visitors", "int", True),
                                     _c("pageviews", "pageviews", "int")),
          "", "audience"),
    Table("cities", "Cities", (_c("city", "city"), _c("country", "country"),
                               _c("visitors", "visitors", "int", True)),
          "", "audience"),
    Table("networks", "Networks", (_c("network", "network"), _c("name", "name"),
                                   _c("visitors", "visitors", "int", True)),
          "Autonomous systems, or the registered domain of clients logged by name.", "audience"),
    Table("browsers", "Browsers", (_c("browser", "browser"),
                                   _c("visitors", "visitors", "int", True),
                                   _c("pageviews", "pageviews", "int")),
          "Human visitors.", "technology"),
    Table("systems", "Operating systems", (_c("os", "system"),
                                           _c("visitors", "visitors", "int", True),
                                           _c("pageviews", "pageviews", "int")),
          "Human visitors.", "technology"),
    Table("devices", "Devices", (_c("device", "device"), _c("visitors", "visitors", "int", True),
                                 _c("pageviews", "pageviews", "int")),
          "Human visitors.", "technology"),
    Table("bots", "Bots", (_c("bot_name", "crawler"), _c("hits", "hits", "int", True),
                           _c("bytes", "bytes", "bytes"), _c("visitors", "clients", "int")),
          "", "technology"),
)


def tables_in(group: str) -> list[Table]:
    return [t for t in TABLES if t.group == group]


# --------------------------------------------------------------------------- environment

def stylesheet() -> str:
    return (STATIC / "weblog.css").read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    """A CSP source expression allowing exactly this inline <style> or <script> body."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(basename=lambda p: Path(str(p)).name, num=fmt_int, bytes=fmt_bytes,
                       pct=fmt_pct, ms=fmt_ms, value=fmt_value,
                       change=fmt_change, change_class=change_class, time=fmt_time)
    env.globals.update(bar_width=bar_width, tables_in=tables_in)
    return env


def trusted(markup: str) -> Markup:
    """Markup of our own, inserted unescaped: the stylesheet, and chart SVG that
    pipelines.charts.checked_svg passed. Never a value from a log."""
    return Markup(markup)

"""`weblog stats`: the statistics tables of a day or a range, summarised for people.

`stats_summary` reads only the STATS tables (never DETAIL or RAW) and returns plain
dicts, which `--json` prints as they are; `render_stats` draws them as rich tables.

Over several days (or several vhosts) counts are sums: visitors become visitor-days
(each day's unique visitors added up, as GoAccess totals them), and time-served
percentiles, which cannot be combined, are shown only for one day of one vhost.

Every value that comes from a log (paths, domains, vhosts, browser names) is printed
through `terminal_safe` and as rich `Text`, never as markup: a request for
'/\\x1b]0;pwned\\x07' or '/[bold]x' must not act on the terminal of whoever reads it.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb

from .errors import InputError

# C0/C1 controls, DEL, and invisible format characters that reorder or hide text
# (bidi overrides and isolates, zero-width characters, line/paragraph separators, BOM)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(value: Any) -> str:
    """Text with every control or invisible formatting character shown as an escape."""
    if value is None:
        return ""

    def esc(m: re.Match) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE.sub(esc, str(value))


# --------------------------------------------------------------------------- queries

def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def resolve_range(con: duckdb.DuckDBPyConnection, day: dt.date | None, start: dt.date | None,
                  end: dt.date | None) -> tuple[dt.date, dt.date]:
    """--day, or --from/--to (an open end takes the first/last day with statistics),
    or by default the latest day with statistics."""
    if not con.execute("select 1 from information_schema.tables "
                       "where table_schema = 'main' and table_name = 'daily_traffic'").fetchall():
        raise InputError("No statistics yet: run `weblog aggregate` first.")
    if day is not None:
        return day, day
    first, last = con.execute("select min(day), max(day) from daily_traffic").fetchall()[0]
    if last is None:
        raise InputError("No statistics yet: run `weblog aggregate` first.")
    if start is None and end is None:
        return last, last
    start, end = start or first, end or last
    if start > end:
        raise InputError(f"--from {start} is after --to {end}.")
    return start, end


_FILTER = "day between $start and $end and ($vhost is null or vhost = $vhost)"


def stats_summary(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date,
                  vhost: str | None = None, top: int = 10) -> dict[str, Any]:
    """Headline numbers, per-day traffic and the top rows of the main breakdowns."""
    p = {"start": start, "end": end, "vhost": vhost}
    lim = int(top)
    days = _rows(con, f"""
        select day, sum(hits) as hits, sum(pageviews) as pageviews, sum(visitors) as visitors,
               sum(human_visitors) as human_visitors, sum(bytes) as bytes,
               sum(bot_hits) as bot_hits, sum(status_4xx) as status_4xx,
               sum(status_5xx) as status_5xx, bool_and(visitors_exact) as visitors_exact,
               count(*) as vhosts
        from daily_traffic where {_FILTER} group by day order by day""", p)
    single = _rows(con, f"""
        select count(*) as n, sum(timed_hits) as timed_hits,
               sum(avg_time_served_ms * timed_hits) / nullif(sum(timed_hits), 0) as avg_ms,
               any_value(p50_time_served_ms) as p50_ms, any_value(p95_time_served_ms) as p95_ms,
               list(distinct vhost order by vhost) as vhosts
        from daily_traffic where {_FILTER}""", p)[0]
    totals: dict[str, Any] = {k: sum(d[k] for d in days) for k in (
        "hits", "pageviews", "visitors", "human_visitors", "bytes", "bot_hits", "status_4xx",
        "status_5xx")}
    totals["visitors_exact"] = all(d["visitors_exact"] for d in days) if days else None
    totals["avg_time_served_ms"] = single["avg_ms"]
    one = single["n"] == 1
    totals["p50_time_served_ms"] = single["p50_ms"] if one else None
    totals["p95_time_served_ms"] = single["p95_ms"] if one else None
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "vhost": vhost,
        "vhosts": single["vhosts"] or [],
        "visitors_are_visitor_days": start != end,
        "totals": totals,
        "days": days,
        "pages": _rows(con, f"""
            select path, sum(pageviews) as pageviews, sum(hits) as hits,
                   sum(visitors) as visitors, sum(bytes) as bytes
            from daily_pages where {_FILTER} and not is_asset
            group by path order by pageviews desc, hits desc, path limit {lim}""", p),
        "not_found": _rows(con, f"""
            with links as (
                select path, referrer_domain, referrer_path, sum(hits) as hits
                from daily_not_found where {_FILTER} group by all
            )
            select path, sum(hits) as hits,
                   sum(hits) filter (where referrer_path is not null) as internal_hits,
                   list_slice(list(referrer_domain || coalesce(referrer_path, '')
                                   order by hits desc, referrer_domain, referrer_path)
                              filter (where referrer_domain is not null), 1, 3) as linked_from
            from links group by path order by hits desc, path limit {lim}""", p),
        "errors": _rows(con, f"""
            select path, status, sum(hits) as hits from daily_errors where {_FILTER}
            group by all order by hits desc, path, status limit {lim}""", p),
        "channels": _rows(con, f"""
            select referrer_class, sum(hits) as hits, sum(pageviews) as pageviews
            from daily_channels where {_FILTER} group by all
            order by pageviews desc, referrer_class""", p),
        "referrers": _rows(con, f"""
            select referrer_domain, sum(pageviews) as pageviews, sum(hits) as hits,
                   sum(visitors) as visitors
            from daily_referrers where {_FILTER} group by all
            order by pageviews desc, hits desc, referrer_domain limit {lim}""", p),
        "search_social": _rows(con, f"""
            select referrer_class, referrer_domain, sum(pageviews) as pageviews,
                   sum(hits) as hits
            from daily_channels where {_FILTER} and referrer_class in ('search', 'social')
            group by all order by pageviews desc, referrer_domain limit {lim}""", p),
        "countries": _rows(con, f"""
            select country, sum(visitors) as visitors, sum(pageviews) as pageviews,
                   sum(hits) as hits
            from daily_countries where {_FILTER} group by all
            order by visitors desc, country limit {lim}""", p),
        "browsers": _rows(con, f"""
            select browser, sum(visitors) as visitors, sum(pageviews) as pageviews,
                   sum(hits) as hits
            from daily_agents where {_FILTER} group by all
            order by visitors desc, browser limit {lim}""", p),
        "bots": _rows(con, f"""
            select bot_name, sum(hits) as hits, sum(bytes) as bytes
            from daily_bots where {_FILTER} group by all
            order by hits desc, bot_name limit {lim}""", p),
    }


# --------------------------------------------------------------------------- rendering

def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _table(title: str, columns: list[tuple[str, bool]], rows: list[list[Any]],
           header: bool = True):
    """A rich table whose data cells are Text (no markup) of terminal-safe strings."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", show_header=header)
    for name, numeric in columns:
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*[Text(terminal_safe(v)) for v in row])
    return table


def render_stats(s: dict[str, Any], console: Any) -> None:
    from rich.text import Text

    t = s["totals"]
    span = s["from"] if s["from"] == s["to"] else f"{s['from']} .. {s['to']}"
    where = s["vhost"] or ", ".join(s["vhosts"]) or "-"
    console.print(Text(terminal_safe(f"Statistics for {span}, vhost {where}")), style="bold")
    visitors = "visitor-days" if s["visitors_are_visitor_days"] else "visitors"
    exact = {True: "exact", False: "approximate (RAW gone)", None: "-"}[t["visitors_exact"]]
    head = [
        ["hits", _num(t["hits"])],
        ["pageviews", _num(t["pageviews"])],
        [visitors, f"{_num(t['visitors'])} ({exact})"],
        [f"human {visitors}", _num(t["human_visitors"])],
        ["bot hits", _num(t["bot_hits"])],
        ["bytes", _size(t["bytes"])],
        ["4xx / 5xx", f"{_num(t['status_4xx'])} / {_num(t['status_5xx'])}"],
    ]
    if t["avg_time_served_ms"] is not None:
        head.append(["time served (ms)", f"avg {_num(t['avg_time_served_ms'])}"
                     + (f", p50 {_num(t['p50_time_served_ms'])}, p95 {_num(t['p95_time_served_ms'])}"
                        if t["p50_time_served_ms"] is not None else "")])
    console.print(_table("Traffic", [("", False), ("", True)], head, header=False))
    if len(s["days"]) > 1:
        console.print(_table("Per day", [("day", False), ("hits", True), ("pageviews", True),
                                         ("visitors", True), ("exact", False)],
                             [[d["day"], _num(d["hits"]), _num(d["pageviews"]),
                               _num(d["visitors"]), "yes" if d["visitors_exact"] else "no"]
                              for d in s["days"]]))
    console.print(_table("Top pages", [("path", False), ("pageviews", True), ("hits", True),
                                       (visitors, True)],
                         [[r["path"], _num(r["pageviews"]), _num(r["hits"]), _num(r["visitors"])]
                          for r in s["pages"]]))
    console.print(_table("Not found (404)", [("path", False), ("hits", True),
                                             ("linked from", False)],
                         [[r["path"], _num(r["hits"]), ", ".join(r["linked_from"] or [])]
                          for r in s["not_found"]]))
    if s["errors"]:
        console.print(_table("Server errors", [("path", False), ("status", True), ("hits", True)],
                             [[r["path"], r["status"], _num(r["hits"])] for r in s["errors"]]))
    console.print(_table("Channels", [("class", False), ("pageviews", True), ("hits", True)],
                         [[r["referrer_class"], _num(r["pageviews"]), _num(r["hits"])]
                          for r in s["channels"]]))
    console.print(_table("Referring sites", [("domain", False), ("pageviews", True),
                                             ("hits", True), (visitors, True)],
                         [[r["referrer_domain"], _num(r["pageviews"]), _num(r["hits"]),
                           _num(r["visitors"])] for r in s["referrers"]]))
    if s["search_social"]:
        console.print(_table("Search and social", [("class", False), ("domain", False),
                                                   ("pageviews", True)],
                             [[r["referrer_class"], r["referrer_domain"], _num(r["pageviews"])]
                              for r in s["search_social"]]))
    console.print(_table("Countries", [("country", False), (visitors, True), ("pageviews", True)],
                         [[r["country"], _num(r["visitors"]), _num(r["pageviews"])]
                          for r in s["countries"]]))
    console.print(_table("Browsers", [("browser", False), (visitors, True), ("pageviews", True)],
                         [[r["browser"], _num(r["visitors"]), _num(r["pageviews"])]
                          for r in s["browsers"]]))
    if s["bots"]:
        console.print(_table("Bots", [("crawler", False), ("hits", True), ("bytes", True)],
                             [[r["bot_name"], _num(r["hits"]), _size(r["bytes"])]
                              for r in s["bots"]]))

"""What the HTML report and the dashboard show: one period of the statistics tables.

`collect` reads only the STATS tables (never DETAIL or RAW), so it runs the same on the
warehouse (`weblog report`) and on the published snapshot (`weblog serve`), and returns
plain dicts and lists: headline figures with their change against the previous period of
the same length, the per-day series, the hour-of-day x weekday grid, the status mix, and
the top rows of each breakdown. Every query binds its parameters; nothing from a request
or a log is formatted into SQL.

Over several days, visitors are visitor-days (daily unique visitors added up), as in
`weblog stats`. Values from logs stay raw strings here: escaping is the template's job
(Jinja2 autoescape) and the charts' (vl-convert writes SVG text escaped).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from .errors import InputError

DEFAULT_DAYS = 30
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FILTER = "day between $start and $end and ($vhost is null or vhost = $vhost)"
#: days before this are refused as a period's bound (a period before them, for comparison,
#: could not be represented: `dt.date` starts at year 1)
EARLIEST_DAY = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts (from the
        first representable day at the earliest, for a period of thousands of years)."""
        end = self.start - dt.timedelta(days=1)
        room = (end - dt.date.min).days
        return Period(end - dt.timedelta(days=min(self.days - 1, room)), end)

    def label(self) -> str:
        return self.start.isoformat() if self.days == 1 else f"{self.start} – {self.end}"


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    # DuckDB refuses named parameters a statement does not use: bind the ones it does
    cur = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def has_statistics(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("select 1 from information_schema.tables "
                            "where table_catalog = current_database() "
                            "and table_schema = current_schema() "
                            "and table_name = 'daily_traffic'").fetchall())


def stats_span(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.date | None]:
    """First and last day with statistics (None, None when there are none)."""
    if not has_statistics(con):
        return None, None
    first, last = con.execute("select min(day), max(day) from daily_traffic").fetchall()[0]
    return first, last


def resolve_period(con: duckdb.DuckDBPyConnection, start: dt.date | None, end: dt.date | None,
                   default_days: int = DEFAULT_DAYS) -> Period:
    """The period to show: an open end is the last day with statistics, an open start
    `default_days` before the end, but not before the first day with statistics."""
    for name, day in (("--from", start), ("--to", end)):
        if day is not None and day < EARLIEST_DAY:
            raise InputError(f"{name} {day} is before {EARLIEST_DAY}: no statistics are that old.")
    first, last = stats_span(con)
    if last is None:
        raise InputError("No statistics yet: run `weblog aggregate` first.")
    end = end or (last if start is None or start <= last else start)
    if start is None:
        start = max(first, end - dt.timedelta(days=default_days - 1))
        start = min(start, end)
    if start > end:
        raise InputError(f"--from {start} is after --to {end}.")
    return Period(start, end)


def vhosts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every vhost with statistics, for the filter."""
    return [v for (v,) in con.execute("select distinct vhost from daily_traffic order by vhost"
                                      ).fetchall()]


# --------------------------------------------------------------------------- headline

#: (key, label, format, which direction is good)
KPIS: tuple[tuple[str, str, str, str | None], ...] = (
    ("visitors", "Visitors", "int", "up"),
    ("human_visitors", "Human visitors", "int", "up"),
    ("pageviews", "Pageviews", "int", "up"),
    ("hits", "Hits", "int", None),
    ("bytes", "Traffic", "bytes", None),
    ("bot_share", "Bot share of hits", "pct", None),
    ("status_4xx", "Client errors (4xx)", "int", "down"),
    ("status_5xx", "Server errors (5xx)", "int", "down"),
    ("avg_time_served_ms", "Avg. time served", "ms", "down"),
)


def _totals(con: duckdb.DuckDBPyConnection, p: dict) -> dict[str, Any]:
    row = fetch_dicts(con, f"""
        select count(distinct day) as days, sum(hits) as hits, sum(pageviews) as pageviews,
               sum(visitors) as visitors, sum(human_visitors) as human_visitors,
               sum(bytes) as bytes, sum(bot_hits) as bot_hits, sum(status_4xx) as status_4xx,
               sum(status_5xx) as status_5xx,
               sum(avg_time_served_ms * timed_hits) / nullif(sum(timed_hits), 0)
                   as avg_time_served_ms,
               count(distinct day) filter (where visitors_exact) as exact_days
        from daily_traffic where {_FILTER}""", p)[0]
    row["bot_share"] = row["bot_hits"] / row["hits"] if row["hits"] else None
    return row


def _change(now: Any, before: Any) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before


def headline(con: duckdb.DuckDBPyConnection, period: Period, vhost: str | None) -> dict:
    """Totals of the period and of the previous one, and one card per KPI."""
    now = _totals(con, {"start": period.start, "end": period.end, "vhost": vhost})
    prev_period = period.previous()
    before = _totals(con, {"start": prev_period.start, "end": prev_period.end, "vhost": vhost})
    cards = []
    for key, label, fmt, good in KPIS:
        if key == "avg_time_served_ms" and now[key] is None:
            continue  # the format logs no time served
        change = _change(now[key], before[key]) if before["days"] else None
        if fmt == "pct" and now[key] is not None and before[key] is not None and before["days"]:
            change = now[key] - before[key]  # percentage points
        cards.append({"key": key, "label": label, "format": fmt, "value": now[key],
                      "previous": before[key] if before["days"] else None, "change": change,
                      "good": good})
    return {"totals": now, "previous_totals": before, "previous_period": prev_period,
            "cards": cards}


# --------------------------------------------------------------------------- series

def daily_series(con: duckdb.DuckDBPyConnection, period: Period, vhost: str | None) -> list[dict]:
    """One row per day of the period (days without statistics hold NULLs)."""
    return fetch_dicts(con, f"""
        with days as (
            select unnest(generate_series($start::date, $end::date, interval 1 day))::date as day
        ),
        traffic as (
            select day, sum(hits) as hits, sum(pageviews) as pageviews,
                   sum(visitors) as visitors, sum(human_visitors) as human_visitors,
                   sum(bytes) as bytes, sum(bot_hits) as bot_hits,
                   sum(status_2xx) as status_2xx, sum(status_3xx) as status_3xx,
                   sum(status_4xx) as status_4xx, sum(status_5xx) as status_5xx,
                   bool_and(visitors_exact) as visitors_exact
            from daily_traffic where {_FILTER} group by day
        )
        select * from days left join traffic using (day) order by day""",
                 {"start": period.start, "end": period.end, "vhost": vhost})


def weekly_hours(con: duckdb.DuckDBPyConnection, period: Period, vhost: str | None) -> list[dict]:
    """Average hits per hour of day (site time) and weekday, over the days with statistics."""
    return fetch_dicts(con, f"""
        with days as (
            select distinct day from daily_traffic where {_FILTER}
        ),
        weekdays as (
            select isodow(day) - 1 as weekday, count(*) as n from days group by all
        ),
        hours as (
            select isodow(day) - 1 as weekday, hour, sum(hits) as hits,
                   sum(pageviews) as pageviews
            from hourly_traffic where {_FILTER} group by all
        ),
        grid as (
            select w.weekday, h.hour, w.n
            from weekdays w cross join (select unnest(range(24)) as hour) h
        )
        select g.weekday, g.hour, coalesce(hours.hits, 0) / g.n as avg_hits,
               coalesce(hours.pageviews, 0) / g.n as avg_pageviews
        from grid g left join hours using (weekday, hour)
        order by g.weekday, g.hour""", {"start": period.start, "end": period.end, "vhost": vhost})


# --------------------------------------------------------------------------- breakdowns

def breakdowns(con: duckdb.DuckDBPyConnection, period: Period, vhost: str | None,
               top: int = 15) -> dict[str, list[dict]]:
    """The top rows of every breakdown table, summed over the period."""
    p = {"start": period.start, "end": period.end, "vhost": vhost, "top": int(top)}
    q = {
        "pages": f"""
            select path, sum(pageviews) as pageviews, sum(visitors) as visitors,
                   sum(hits) as hits, sum(bytes) as bytes
            from daily_pages where {_FILTER} and not is_asset
            group by path order by pageviews desc, hits desc, path limit $top""",
        "broken_links": f"""
            select referrer_path, path, sum(hits) as hits, sum(visitors) as visitors
            from daily_not_found where {_FILTER} and referrer_path is not null
            group by all order by hits desc, referrer_path, path limit $top""",
        "not_found": f"""
            with links as (
                select path, referrer_domain, referrer_path, referrer_class,
                       sum(hits) as hits, sum(bot_hits) as bot_hits
                from daily_not_found where {_FILTER} group by all
            )
            select path, sum(hits) as hits, sum(bot_hits) as bot_hits,
                   list_slice(list(distinct referrer_domain order by referrer_domain)
                              filter (where referrer_domain is not null
                                      and referrer_class <> 'internal'), 1, 3) as from_sites
            from links group by path order by hits desc, path limit $top""",
        "errors": f"""
            select path, status, sum(hits) as hits, sum(visitors) as visitors
            from daily_errors where {_FILTER}
            group by all order by hits desc, path, status limit $top""",
        "status": f"""
            select status, sum(hits) as hits, sum(bot_hits) as bot_hits, sum(bytes) as bytes
            from daily_status where {_FILTER} group by all order by status""",
        "channels": f"""
            select referrer_class, sum(pageviews) as pageviews, sum(hits) as hits,
                   sum(visitors) as visitors
            from daily_channels where {_FILTER} group by all
            order by pageviews desc, referrer_class""",
        "referrers": f"""
            select referrer_domain, sum(pageviews) as pageviews, sum(visitors) as visitors,
                   sum(hits) as hits
            from daily_referrers where {_FILTER} group by all
            order by pageviews desc, hits desc, referrer_domain limit $top""",
        "search_social": f"""
            select referrer_class, referrer_domain, sum(pageviews) as pageviews,
                   sum(visitors) as visitors
            from daily_channels where {_FILTER} and referrer_class in ('search', 'social')
            group by all order by pageviews desc, referrer_domain limit $top""",
        "countries": f"""
            select country, sum(visitors) as visitors, sum(pageviews) as pageviews,
                   sum(hits) as hits
            from daily_countries where {_FILTER} group by all
            order by visitors desc, country limit $top""",
        "cities": f"""
            select country, city, sum(visitors) as visitors, sum(pageviews) as pageviews
            from daily_cities where {_FILTER} group by all
            order by visitors desc, country, city limit $top""",
        "networks": f"""
            select network, any_value(coalesce(as_org, client_domain)) as name,
                   sum(visitors) as visitors, sum(hits) as hits, sum(bytes) as bytes
            from daily_networks where {_FILTER} group by network
            order by visitors desc, network limit $top""",
        "browsers": f"""
            select browser, sum(visitors) as visitors, sum(pageviews) as pageviews
            from daily_agents where {_FILTER} group by all
            order by visitors desc, browser limit $top""",
        "systems": f"""
            select os, sum(visitors) as visitors, sum(pageviews) as pageviews
            from daily_agents where {_FILTER} group by all
            order by visitors desc, os limit $top""",
        "devices": f"""
            select device, sum(visitors) as visitors, sum(pageviews) as pageviews
            from daily_agents where {_FILTER} group by all
            order by visitors desc, device limit $top""",
        "bots": f"""
            select bot_name, sum(hits) as hits, sum(bytes) as bytes, sum(visitors) as visitors
            from daily_bots where {_FILTER} group by all
            order by hits desc, bot_name limit $top""",
    }
    return {name: fetch_dicts(con, sql, p) for name, sql in q.items()}


def collect(con: duckdb.DuckDBPyConnection, period: Period, vhost: str | None = None,
            top: int = 15, ready: Callable[[dict[str, Any]], None] | None = None,
            ) -> dict[str, Any]:
    """Everything one report or dashboard page shows, for `period` and `vhost`. `ready`,
    when given, sees the page's data after each part the charts are drawn from (the daily
    series, the week's hours, the tables), so their drawing can start while the rest is
    read (pipelines.charts.PageCharts)."""
    tell = ready or (lambda _: None)
    data: dict[str, Any] = {"period": period, "vhost": vhost, "visitor_days": period.days > 1}
    data["daily"] = daily_series(con, period, vhost)
    tell(data)
    data["hours"] = weekly_hours(con, period, vhost)
    tell(data)
    data["vhosts"] = vhosts(con)
    data.update(headline(con, period, vhost))
    data["tables"] = breakdowns(con, period, vhost, top)
    tell(data)
    return data

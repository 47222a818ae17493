"""pipelines.views: what one period of the statistics tables shows."""
from __future__ import annotations

import datetime as dt

import pytest

import stats_fixture as sf
from pipelines import views, warehouse

D1, D2, D3 = sf.DAYS


@pytest.fixture(scope="module")
def con(views_warehouse):
    cfg, _ = views_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    yield con
    con.close()


def test_change_against_the_previous_period(con):
    head = views.headline(con, views.Period(D3, D3), None)
    ((h2,),), ((h3,),) = (con.execute("select sum(hits) from daily_traffic where day = ?",
                                      [d]).fetchall() for d in (D2, D3))
    first = views.headline(con, views.Period(D1, D1), None)
    assert head["previous_period"] == views.Period(D2, D2)
    hits = next(c for c in head["cards"] if c["key"] == "hits")
    assert (hits["value"], hits["previous"]) == (h3, h2)
    assert hits["change"] == pytest.approx((h3 - h2) / h2)
    # the day before the first day has no statistics: no change, not a change from zero
    assert all(c["change"] is None and c["previous"] is None for c in first["cards"])


def test_default_period_is_the_last_30_days_with_statistics(con):
    assert views.resolve_period(con, None, None) == views.Period(D1, D3)
    assert views.resolve_period(con, None, None, default_days=2) == views.Period(D2, D3)
    assert views.resolve_period(con, D2, None) == views.Period(D2, D3)
    assert views.resolve_period(con, None, D1) == views.Period(D1, D1)
    later = D3 + dt.timedelta(days=40)
    assert views.resolve_period(con, later, later) == views.Period(later, later)
    assert views.Period(D1, D3).previous() == views.Period(D1 - dt.timedelta(days=3),
                                                           D1 - dt.timedelta(days=1))


def test_a_period_near_the_first_representable_day_is_refused_or_clamped(con):
    """Found by the view-security fuzzing: ?to=0001-01-01 overflowed Python's date (500)."""
    from pipelines.errors import InputError
    for start, end in ((dt.date(1, 1, 1), None), (None, dt.date(1, 1, 1)),
                       (dt.date(1969, 12, 31), D3)):
        with pytest.raises(InputError, match="is before 1970-01-01"):
            views.resolve_period(con, start, end)
    assert views.resolve_period(con, views.EARLIEST_DAY, D3) == views.Period(views.EARLIEST_DAY, D3)
    longest = views.Period(views.EARLIEST_DAY, dt.date.max)
    assert longest.previous() == views.Period(dt.date.min, dt.date(1969, 12, 31))


def test_weekday_hours_are_daily_averages(con):
    grid = views.weekly_hours(con, views.Period(D1, D3), None)
    assert len(grid) == 3 * 24  # three days, three weekdays
    by_key = {(r["weekday"], r["hour"]): r["avg_hits"] for r in grid}
    for day in sf.DAYS:
        hours = dict(con.execute("select hour, sum(hits) from hourly_traffic where day = ? "
                                 "group by hour", [day]).fetchall())
        for hour in range(24):
            assert by_key[(day.isoweekday() - 1, hour)] == hours.get(hour, 0)


def test_daily_series_covers_every_day(con):
    later = D3 + dt.timedelta(days=2)
    series = views.daily_series(con, views.Period(D2, later), None)
    assert [r["day"] for r in series] == [D2, D3, D3 + dt.timedelta(days=1), later]
    assert series[-1]["hits"] is None and series[0]["hits"] > 0


def test_breakdowns_add_up(con):
    tables = views.breakdowns(con, views.Period(D1, D3), sf.VHOSTS[0], top=1000)
    (pageviews, hits), = con.execute("select sum(pageviews), sum(hits) from daily_traffic "
                                     "where vhost = ?", [sf.VHOSTS[0]]).fetchall()
    assert sum(r["pageviews"] for r in tables["channels"]) == pageviews
    assert sum(r["hits"] for r in tables["status"]) == hits
    assert sum(r["hits"] for r in tables["countries"]) == hits
    assert {r["device"] for r in tables["devices"]} <= {"desktop", "mobile", "tablet", "other"}
    broken = {(r["referrer_path"], r["path"]) for r in tables["broken_links"]}
    assert ("/about/", "/static/img/team-2019.jpg") in broken
    assert all(r["referrer_path"] is not None for r in tables["broken_links"])


"""pipelines.stats and `weblog stats`: what the web team reads, and that log data printed
to a terminal cannot act on it."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import stats_fixture as sf
from pipelines import raw, warehouse
from pipelines.cli import cli
from pipelines.stats import _UNSAFE, terminal_safe

D1, D2, D3 = sf.DAYS


def run(cfg, *args: str, env: dict | None = None):
    runner = CliRunner()
    return runner.invoke(cli, ["--data-dir", str(cfg.data_dir), "stats", *args],
                         env={"COLUMNS": "200", "WEBLOG_CONFIG": None, **(env or {})},
                         catch_exceptions=False)


def traffic(cfg, day=None) -> list[dict]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        rows = sf.table_rows(con, "daily_traffic")
    finally:
        con.close()
    return [r for r in rows if day is None or r["day"] == day]


# --------------------------------------------------------------------------- terminal_safe

@pytest.mark.parametrize("text, shown", [
    ("/plain/path", "/plain/path"),
    ("/\x1b[31mred", "/\\x1b[31mred"),
    ("/\x1b]0;title\x07", "/\\x1b]0;title\\x07"),
    ("/a\nb\rc\td", "/a\\x0ab\\x0dc\\x09d"),
    ("/\x9b31m", "/\\x9b31m"),                       # C1 control sequence introducer
    ("/\u202egnp.exe", "/\\u202egnp.exe"),            # right-to-left override
    ("/zero\u200bwidth\ufeff", "/zero\\u200bwidth\\ufeff"),
    ("/日本語/ü", "/日本語/ü"),
    (None, ""),
    (42, "42"),
])
def test_terminal_safe(text, shown):
    assert terminal_safe(text) == shown


@given(st.text())
def test_terminal_safe_leaves_no_control_character(text):
    out = terminal_safe(text)
    assert not _UNSAFE.search(out)
    if not _UNSAFE.search(text):
        assert out == text


# --------------------------------------------------------------------------- summary

def test_json_day_matches_the_tables(stats_warehouse):
    cfg, _ = stats_warehouse
    result = run(cfg, "--day", D3.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    rows = traffic(cfg, D3)
    for measure in ("hits", "pageviews", "visitors", "human_visitors", "bytes", "bot_hits"):
        assert s["totals"][measure] == sum(r[measure] for r in rows), measure
    assert s["totals"]["visitors_exact"] is True
    assert s["vhosts"] == ["shop.example.com", "www.example.com"]
    assert s["totals"]["p50_time_served_ms"] is None  # two vhosts: percentiles do not add
    paths = [p["path"] for p in s["pages"]]
    assert paths and not [p for p in paths if p.startswith("/static/")]
    broken = {n["path"]: n["linked_from"] for n in s["not_found"]}
    assert "example.com/about/" in broken["/static/img/team-2019.jpg"]
    assert {c["referrer_class"] for c in s["channels"]} == {
        "direct", "internal", "search", "social", "external"}
    assert "(other)" in [c["country"] for c in s["countries"]]
    assert {r["referrer_domain"] for r in s["referrers"]} == {"example.org"}


def test_default_is_the_latest_day_and_vhost_filters(stats_warehouse):
    cfg, _ = stats_warehouse
    s = json.loads(run(cfg, "--json", "--vhost", "www.example.com").output)
    (row,) = [r for r in traffic(cfg, D3) if r["vhost"] == "www.example.com"]
    assert (s["from"], s["to"]) == (D3.isoformat(), D3.isoformat())
    assert s["totals"]["hits"] == row["hits"] and s["vhosts"] == ["www.example.com"]
    assert s["totals"]["p95_time_served_ms"] == pytest.approx(row["p95_time_served_ms"])


def test_range_adds_up_visitor_days(stats_warehouse):
    cfg, _ = stats_warehouse
    s = json.loads(run(cfg, "--from", D1.isoformat(), "--to", D3.isoformat(), "--json",
                       "--top", "2").output)
    assert s["visitors_are_visitor_days"] is True
    assert s["totals"]["visitors"] == sum(r["visitors"] for r in traffic(cfg))
    assert s["totals"]["visitors_exact"] is False  # D1 is approximate
    assert [d["day"] for d in s["days"]] == [d.isoformat() for d in sf.DAYS]
    assert len(s["pages"]) == 2 and len(s["countries"]) == 2


def test_terminal_output(stats_warehouse):
    cfg, _ = stats_warehouse
    result = run(cfg, "--day", D2.isoformat())
    assert result.exit_code == 0
    for heading in ("Traffic", "Top pages", "Not found (404)", "Referring sites", "Countries",
                    "Browsers"):
        assert heading in result.output
    assert "example.com/about/" in result.output and "(exact)" in result.output


def test_log_values_cannot_act_on_the_terminal(stats_copy):
    cfg, _ = stats_copy
    hostile = "/\x1b]0;pwned\x07\x1b[2J[bold red]x[/bold red]\u202etxt.exe"
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        con.execute("update daily_pages set path = ? where day = ? and path = '/'", [hostile, D3])
        con.execute("update daily_countries set country = '[blink]JP' where country = 'JP'")
    finally:
        con.close()
    result = run(cfg, "--day", D3.isoformat())
    assert result.exit_code == 0
    out = result.output
    assert not _UNSAFE.search(out.replace("\n", ""))
    assert "\\x1b]0;pwned\\x07\\x1b[2J[bold red]x[/bold red]\\u202etxt.exe" in out
    assert "[blink]JP" in out
    as_json = run(cfg, "--day", D3.isoformat(), "--json").output
    assert "\x1b" not in as_json and "\\u001b]0;pwned" in as_json


def test_bad_arguments(stats_warehouse, tmp_path):
    cfg, _ = stats_warehouse
    both = run(cfg, "--day", D1.isoformat(), "--from", D1.isoformat())
    assert both.exit_code == 2 and "not both" in both.output
    reversed_ = run(cfg, "--from", D3.isoformat(), "--to", D1.isoformat())
    assert reversed_.exit_code == 2 and "after" in reversed_.output
    bad_date = run(cfg, "--day", "yesterday")
    assert bad_date.exit_code == 2
    empty = sf.fixture_config(tmp_path, {})
    warehouse.connect(empty.data_dir).close()
    none_yet = run(empty)
    assert none_yet.exit_code == 2 and "weblog aggregate" in none_yet.output


def test_warehouse_from_before_statistics(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    con = warehouse.connect(cfg.data_dir)
    con.execute("drop table daily_traffic")  # as if created before the statistics tier
    con.close()
    result = run(cfg)
    assert result.exit_code == 2 and "weblog aggregate" in result.output


def test_day_without_statistics_prints_zeros(stats_warehouse):
    cfg, _ = stats_warehouse
    s = json.loads(run(cfg, "--day", "2026-02-01", "--json").output)
    assert s["totals"]["hits"] == 0 and s["pages"] == [] and s["totals"]["visitors_exact"] is None
    assert run(cfg, "--day", "2026-02-01").exit_code == 0

"""pipelines.aggregate: the statistics tables against an independent computation,
exact vs approximate visitors, suppression, idempotence, staleness and RAW handling.

The fixture (tests/stats_fixture.py) is a real log ingested into a real warehouse with
real synthetic GeoIP files; expectations are recomputed from the log lines in Python.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stats_fixture as sf
from pipelines import aggregate, anonymize, detail, raw, warehouse
from pipelines.aggregate import (
    CLIENT_KEYED,
    MARTS,
    aggregate_days,
    days_needing_stats,
    run_aggregate,
    stats_current,
)
from pipelines.config import Config
from pipelines.ingest import ingest_paths
from pipelines.status import tier_status

D1, D2, D3 = sf.DAYS
EXACT = {D2, D3}  # D1 was already older than the RAW window when ingested
RAW_DAYS_PLUS = sf.RAW_DAYS + 1  # as-of this long after a day, its new lines skip RAW


def _open(cfg: Config, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(cfg.data_dir, read_only=read_only,
                             temp_dir=None if read_only else raw.temp_root(cfg.data_dir))


def _contents(cfg: Config) -> dict[str, list[tuple]]:
    con = _open(cfg)
    try:
        out = {}
        for table in MARTS:
            rows = sf.table_rows(con, table)
            out[table] = sf.sort_rows(rows, list(rows[0]) if rows else [])
        return out
    finally:
        con.close()


def _assert_same_rows(table: str, got: list[dict], expected: list[dict]) -> None:
    assert got, f"{table} is empty"
    columns = list(got[0])
    assert set(columns) == set(expected[0]), table
    a, b = sf.sort_rows(got, columns), sf.sort_rows(expected, columns)
    assert len(a) == len(b), f"{table}: {len(a)} rows, expected {len(b)}"
    for row_a, row_b in zip(a, b):
        for col, x, y in zip(columns, row_a, row_b):
            if isinstance(x, float) or isinstance(y, float):
                # averages and percentiles: same formula, floating-point rounding aside
                assert x == pytest.approx(y, rel=1e-12), (table, col, row_a)
            else:
                assert x == y, (table, col, row_a, row_b)


# --------------------------------------------------------------------------- correctness

@pytest.fixture(scope="module")
def expected(stats_warehouse):
    _, lines = stats_warehouse
    return sf.expected_tables(sf.request_rows([lines]), EXACT)


@pytest.mark.parametrize("table", MARTS)
def test_mart_matches_independent_computation(stats_warehouse, expected, table):
    cfg, _ = stats_warehouse
    con = _open(cfg)
    try:
        _assert_same_rows(table, sf.table_rows(con, table), expected[table])
    finally:
        con.close()


def test_fixture_tells_exact_from_approximate_visitors(stats_warehouse):
    """The comparison above can only catch a wrong visitor key if the keys disagree here."""
    _, lines = stats_warehouse
    rows = sf.request_rows([lines])
    exact = sf.expected_tables(rows, {D1, D2, D3})["daily_traffic"]
    approx = sf.expected_tables(rows, set())["daily_traffic"]
    assert [r["visitors"] for r in exact] != [r["visitors"] for r in approx]
    # one address written two ways is one client: the key is the normalised address
    spellings = {line.split()[1] for line in lines if line.split()[1].lower() == "2001:db8:1::5"}
    assert spellings == {"2001:DB8:1::5", "2001:db8:1::5"}
    assert {r["raw_key"][0] for r in rows if r["client_net"] == "2001:db8:1::/48"} >= {"2001:db8:1::5"}


def test_visitor_source_per_day(stats_warehouse):
    cfg, _ = stats_warehouse
    con = _open(cfg)
    try:
        rows = {r["day"]: r for r in aggregate.stats_day_rows(con)}
    finally:
        con.close()
    assert [(d, rows[d]["visitors_exact"], rows[d]["visitor_source"]) for d in sf.DAYS] == [
        (D1, False, "detail"), (D2, True, "raw"), (D3, True, "raw")]
    assert all(r["ingest_watermark"] == 1 for r in rows.values())
    assert sum(r["detail_rows"] for r in rows.values()) == len(stats_warehouse[1])


# --------------------------------------------------------------------------- suppression

@pytest.mark.parametrize("table", sorted(CLIENT_KEYED))
def test_client_keyed_tables_suppress_and_add_up(stats_warehouse, table):
    cfg, _ = stats_warehouse
    con = _open(cfg)
    try:
        traffic = {(r["day"], r["vhost"]): r for r in sf.table_rows(con, "daily_traffic")}
        rows = sf.table_rows(con, table)
    finally:
        con.close()
    keys = CLIENT_KEYED[table]
    others = [r for r in rows if r[keys[0]] == aggregate.OTHER]
    assert others, "the fixture must exercise suppression"
    assert any(r["cells"] > 1 for r in others)
    for r in rows:
        if r[keys[0]] != aggregate.OTHER:
            assert r["visitors"] >= sf.K_MIN and r["cells"] == 1, r
    sums: dict[tuple, dict] = {}
    for r in rows:
        s = sums.setdefault((r["day"], r["vhost"]), {"hits": 0, "bytes": 0, "visitors": 0,
                                                     "pageviews": 0})
        for m in s:
            s[m] += r[m]
    assert set(sums) == set(traffic)
    for key, s in sums.items():
        assert s == {m: traffic[key][m] for m in s}, key


def test_suppression_threshold_follows_k_min(stats_copy):
    cfg, _ = stats_copy
    cfg = dataclasses.replace(cfg, k_min=1)
    con = _open(cfg, read_only=False)
    try:
        aggregate_days(con, cfg, list(sf.DAYS))
        others = con.execute("select count(*) from daily_countries where country = '(other)'"
                             ).fetchall()[0][0]
        small = con.execute("select count(*) from daily_countries where visitors < 3"
                            ).fetchall()[0][0]
    finally:
        con.close()
    assert others == 0 and small > 0


# property: whatever the requests, the suppression keeps every total and hides small cells
_request = st.fixed_dictionaries({
    "net": st.integers(0, 3), "country": st.sampled_from(["JP", "US", "DE", None]),
    "asn": st.sampled_from([64512, 64513, None]), "browser": st.sampled_from(["Chrome", "Firefox"]),
    "is_bot": st.booleans(), "bytes": st.integers(0, 5000), "status": st.sampled_from([200, 304, 404, 500]),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(_request, min_size=1, max_size=40), k=st.integers(1, 4))
def test_suppression_invariants_hold_for_any_requests(tmp_path_factory, requests, k):
    data = tmp_path_factory.mktemp("prop")
    cfg = Config(data_dir=data, k_min=k)
    con = warehouse.connect(data, temp_dir=raw.temp_root(data))
    try:
        con.execute("insert into ingested_files (file_id, path, format, size, sha256, "
                    "content_sha256, head_sha256, content_start, content_end, lines_read, "
                    "lines_parsed, lines_rejected, lines_too_old, lines_bad_client, as_of, "
                    "ingested_at) values (1, 'p', 'combined', 0, '', '', '', 0, 0, 0, 0, 0, 0, "
                    "0, DATE '2026-03-01', now()::timestamp)")
        for i, r in enumerate(requests):
            con.execute(
                "insert into detail_rows (ts, day, hour, vhost, client_net, country, asn, browser, "
                "os, device, is_bot, path, method, status, bytes, source_file_id, line_no) "
                "values (TIMESTAMP '2026-03-01 01:00', DATE '2026-03-01', 1, 'v', ?, ?, ?, ?, "
                "'Other', 'desktop', ?, '/', 'GET', ?, ?, 1, ?)",
                [f"192.0.2.{r['net']}/32", r["country"], r["asn"], r["browser"], r["is_bot"],
                 r["status"], r["bytes"], i])
        result = aggregate_days(con, cfg)
        assert result.days == ["2026-03-01"] and result.visitors_exact == {"2026-03-01": False}
        assert aggregate.data_test_failures(con, k) == {}
    finally:
        con.close()


# --------------------------------------------------------------------------- idempotence

def test_recompute_gives_identical_tables(stats_copy):
    cfg, _ = stats_copy
    before = _contents(cfg)
    con = _open(cfg, read_only=False)
    try:
        first = aggregate_days(con, cfg, list(sf.DAYS))
        second = aggregate_days(con, cfg, list(sf.DAYS))
    finally:
        con.close()
    assert first.days == second.days == [d.isoformat() for d in sf.DAYS]
    assert first.rows == second.rows
    assert _contents(cfg) == before


def test_a_hash_collision_numbers_the_day_exactly(stats_copy, monkeypatch):
    """When the check finds two visitor keys of a day sharing a hashed id (a 64-bit
    collision, which cannot be produced on demand: the check's answer is forced here, and
    test_sql_models tests the check itself), the day is numbered exactly instead, with the
    same statistics."""
    cfg, _ = stats_copy
    before = _contents(cfg)
    staged: list[tuple[dt.date, str, bool]] = []
    real_stage = aggregate._stage

    def recording_stage(con, cfg_, day, files, source, *, numbered=False):
        staged.append((day, source, numbered))
        real_stage(con, cfg_, day, files, source, numbered=numbered)

    monkeypatch.setattr(aggregate, "_stage", recording_stage)
    monkeypatch.setattr(aggregate, "raw_visitor_collisions", lambda con: 1)
    con = _open(cfg, read_only=False)
    try:
        result = aggregate_days(con, cfg, list(sf.DAYS))
    finally:
        con.close()
    assert result.visitors_exact == {D1.isoformat(): False, D2.isoformat(): True,
                                     D3.isoformat(): True}
    assert staged == [(D1, "detail", False), (D2, "raw", False), (D2, "raw", True),
                      (D3, "raw", False), (D3, "raw", True)]
    assert _contents(cfg) == before


def test_nothing_to_do_when_current(stats_copy):
    cfg, _ = stats_copy
    result = run_aggregate(cfg)
    assert result.days == [] and result.skipped == {}
    con = _open(cfg)
    try:
        assert days_needing_stats(con) == []
        assert all(stats_current(con, d) for d in sf.DAYS)
        assert not stats_current(con, dt.date(2026, 2, 1))  # no statistics at all
    finally:
        con.close()


# --------------------------------------------------------------------------- staleness

def _ingest_more(cfg: Config, tmp_path, lines: list[str], as_of: dt.date = sf.AS_OF) -> None:
    log = sf.write_log(tmp_path / "more.log", lines)
    results = ingest_paths(cfg, [str(log)], format_name=sf.FORMAT, as_of=as_of)
    assert results[0].status == "ingested"


def _late_lines(day: dt.date, n: int = 7) -> list[str]:
    return sf.generate_lines(days=(day,), seed=99)[:n]


def test_new_data_makes_a_day_stale_and_aggregate_recomputes_it(stats_copy, tmp_path):
    cfg, lines = stats_copy
    extra = _late_lines(D3)
    _ingest_more(cfg, tmp_path, extra)
    con = _open(cfg)
    try:
        assert days_needing_stats(con) == [D3]
        assert not stats_current(con, D3) and stats_current(con, D2)
    finally:
        con.close()
    assert tier_status(cfg, sf.AS_OF)["stats"]["needing_stats"] == [D3.isoformat()]

    result = run_aggregate(cfg)
    assert result.days == [D3.isoformat()] and result.visitors_exact == {D3.isoformat(): True}
    con = _open(cfg)
    try:
        assert days_needing_stats(con) == [] and stats_current(con, D3)
        (watermark,) = con.execute("select ingest_watermark from stats_days where day = ?",
                                   [D3]).fetchall()[0]
        got = sf.table_rows(con, "daily_traffic")
    finally:
        con.close()
    assert watermark == 2
    expected = sf.expected_tables(sf.request_rows([lines, extra]), EXACT)["daily_traffic"]
    _assert_same_rows("daily_traffic", got, expected)


def test_status_reports_statistics(stats_warehouse):
    cfg, _ = stats_warehouse
    info = tier_status(cfg, sf.AS_OF)["stats"]
    assert info == {"days": 3, "first_day": D1, "last_day": D3, "approximate_days": 1,
                    "needing_stats": []}


# --------------------------------------------------------------------------- RAW

def test_lines_too_old_for_raw_make_the_day_approximate(stats_copy, tmp_path):
    """D2's RAW partition exists but no longer covers the day: visitors from DETAIL."""
    cfg, lines = stats_copy
    extra = _late_lines(D2)
    _ingest_more(cfg, tmp_path, extra, as_of=D2 + dt.timedelta(days=RAW_DAYS_PLUS))
    result = run_aggregate(cfg)
    assert result.visitors_exact == {D2.isoformat(): False}
    con = _open(cfg)
    try:
        got = sf.table_rows(con, "daily_countries")
        source = con.execute("select visitor_source from stats_days where day = ?", [D2]
                             ).fetchall()[0][0]
    finally:
        con.close()
    assert source == "detail"
    _assert_same_rows("daily_countries", got,
                      sf.expected_tables(sf.request_rows([lines, extra]), {D3})["daily_countries"])


def test_purged_raw_keeps_exact_statistics_until_new_data(stats_copy, tmp_path):
    cfg, lines = stats_copy
    shutil.rmtree(raw.raw_root(cfg.data_dir) / raw.partition_name(D2))  # as a purge would
    result = run_aggregate(cfg, start=D1, end=D3)
    assert D2.isoformat() in result.skipped and D2.isoformat() not in result.days
    assert result.visitors_exact == {D1.isoformat(): False, D3.isoformat(): True}
    con = _open(cfg)
    try:
        assert con.execute("select visitors_exact from stats_days where day = ?", [D2]
                           ).fetchall()[0][0] is True
    finally:
        con.close()
    # new lines for D2 arrive: the day must be recomputed, from DETAIL now
    extra = _late_lines(D2)
    _ingest_more(cfg, tmp_path, extra, as_of=D2 + dt.timedelta(days=RAW_DAYS_PLUS))
    assert run_aggregate(cfg).visitors_exact == {D2.isoformat(): False}


def test_reads_only_the_aggregated_days_raw_partition(stats_copy):
    cfg, _ = stats_copy
    for f in aggregate.raw_files(cfg.data_dir, D3):
        f.write_bytes(b"not parquet")  # any read of D3's RAW would fail
    con = _open(cfg, read_only=False)
    try:
        result = aggregate_days(con, cfg, [D2])
    finally:
        con.close()
    assert result.visitors_exact == {D2.isoformat(): True}


def test_day_without_detail_rows_keeps_its_statistics(stats_copy):
    cfg, _ = stats_copy
    con = _open(cfg, read_only=False)
    try:
        with warehouse.transaction(con):  # as a DETAIL purge would
            detail.unregister(con, detail.listed(con, D1))
            detail.refresh_view(con, cfg.data_dir)
        result = aggregate_days(con, cfg, [D1])
        kept = con.execute("select count(*) from daily_traffic where day = ?", [D1]).fetchall()
    finally:
        con.close()
    assert result.days == [] and D1.isoformat() in result.skipped
    assert kept[0][0] == 2


def test_spills_go_to_the_raw_temp_folder(stats_copy):
    cfg, _ = stats_copy
    con = warehouse.connect(cfg.data_dir)  # opened without temp_dir
    try:
        aggregate_days(con, cfg, [D3])
        spill = con.execute("select current_setting('temp_directory')").fetchall()[0][0]
    finally:
        con.close()
    assert spill and Path(spill).resolve() == raw.temp_root(cfg.data_dir).resolve()


# --------------------------------------------------------------------------- privacy

def test_no_full_address_or_user_agent_outside_raw(stats_warehouse):
    cfg, lines = stats_warehouse
    rows = sf.request_rows([lines])
    clients = {r["raw_key"][0] for r in rows if r["raw_key"][0]}
    agents = {r["raw_key"][1] for r in rows if r["raw_key"][1]}
    con = _open(cfg)
    try:
        for table in aggregate.STATS_TABLES:
            for (col,) in con.execute("select column_name from information_schema.columns "
                                      "where table_name = ? and data_type = 'VARCHAR'",
                                      [table]).fetchall():
                values = {v for (v,) in con.execute(f'select distinct "{col}" from {table}').fetchall()
                          if v is not None}
                assert not values & clients, (table, col)
                assert not values & agents, (table, col)
                assert not [v for v in values if anonymize.find_leaks(v)], (table, col)
    finally:
        con.close()


def test_result_carries_counts_only(stats_copy):
    cfg, lines = stats_copy
    result = run_aggregate(cfg, start=D1, end=D3)
    blob = json.dumps(result.to_dict())
    assert set(result.to_dict()) == {"days", "rows", "visitors_exact", "skipped", "seconds",
                                     "failed"}
    assert not anonymize.find_leaks(blob)
    assert "192.0.2." not in blob and "example.net" not in blob
    assert result.rows["daily_traffic"] == 6 and math.isfinite(result.seconds)


# --------------------------------------------------------------------------- CLI

def _config_file(cfg: Config, tmp_path) -> str:
    path = tmp_path / "weblog.toml"
    path.write_text(f'data_dir = "{cfg.data_dir}"\ntimezone = "{cfg.timezone}"\n'
                    f"[retention]\nraw_days = {cfg.raw_days}\ndetail_days = {cfg.detail_days}\n"
                    f"[stats]\nk_min = {cfg.k_min}\nsite_domains = {list(cfg.site_domains)}\n"
                    .replace("'", '"'))
    return str(path)


def test_cli_aggregate(stats_copy, tmp_path):
    from click.testing import CliRunner

    from pipelines.cli import cli

    cfg, _ = stats_copy
    _ingest_more(cfg, tmp_path, _late_lines(D3))
    runner = CliRunner()
    config = _config_file(cfg, tmp_path)
    out = runner.invoke(cli, ["--config", config, "aggregate", "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["days"] == [D3.isoformat()]
    again = runner.invoke(cli, ["--config", config, "aggregate"], catch_exceptions=False)
    assert again.exit_code == 0 and "No day needed statistics" in again.output
    ranged = runner.invoke(cli, ["--config", config, "aggregate", "--from", D2.isoformat()],
                           catch_exceptions=False)
    assert ranged.exit_code == 0
    assert "2 day(s), 2026-03-02 .. 2026-03-03" in ranged.output and "exact for 2" in ranged.output
    capped = runner.invoke(cli, ["--config", config, "aggregate", "--from", D1.isoformat(),
                                 "--as-of", D1.isoformat(), "--json"], catch_exceptions=False)
    assert json.loads(capped.output)["days"] == [D1.isoformat()]
    backwards = runner.invoke(cli, ["--config", config, "aggregate", "--from", D3.isoformat(),
                                    "--to", D1.isoformat()], catch_exceptions=False)
    assert backwards.exit_code == 2 and "after" in backwards.output


def test_a_failing_day_is_left_as_it_was(stats_copy):
    """A day whose RAW cannot be read keeps its statistics; the other days go on; the
    failure names the file, never a value (hardening issue)."""
    from pipelines.errors import WeblogError

    cfg, _ = stats_copy
    before = _contents(cfg)
    files = aggregate.raw_files(cfg.data_dir, D3)
    files[0].write_bytes(b"192.0.2.1 is not parquet")  # RAW damaged on disk
    con = _open(cfg, read_only=False)
    try:
        result = aggregate_days(con, cfg, [D2, D3])
    finally:
        con.close()
    name = files[0].relative_to(cfg.data_dir).as_posix()
    assert result.days == [D2.isoformat()]
    assert result.failed == {D3.isoformat(): f"RAW file {name} cannot be read "
                             "(InvalidInputException); its statistics were kept as they were"}
    with pytest.raises(WeblogError) as info:
        result.raise_for_failed()
    assert str(info.value) == (f"Statistics for 1 day(s) could not be computed: {D3}: RAW file "
                               f"{name} cannot be read (InvalidInputException); its statistics "
                               "were kept as they were.")
    assert info.value.__cause__ is None
    assert _contents(cfg) == before

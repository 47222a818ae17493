"""The SQL models in sql/staging and sql/marts, and the data tests in sql/tests.

Shape: every model states its grain and ends in `final`; every mart writes exactly the
columns of its table. Data tests: each returns zero rows on the aggregated fixture, and
each returns rows once the fixture is broken the way it guards against (a test that
cannot fail is a defect).
"""
from __future__ import annotations

import re

import duckdb
import pytest
import stats_fixture as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_fixture import DAYS, K_MIN

from pipelines import aggregate, raw, warehouse
from pipelines.aggregate import MARTS, data_test_failures, data_tests

MODELS = sorted((warehouse.SQL_DIR / "marts").glob("*.sql")) + sorted(
    (warehouse.SQL_DIR / "staging").glob("*.sql"))


def test_every_mart_has_a_model_and_a_table():
    assert sorted(p.stem for p in (warehouse.SQL_DIR / "marts").glob("*.sql")) == sorted(MARTS)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_model_shape(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("-- Grain: "), "grain comment at the top"
    assert re.search(r"^final as \($", text, re.M), "a `final` CTE"
    assert text.rstrip().endswith("select * from final")
    code = re.sub(r"--[^\n]*", "", text)
    assert ";" not in code, "one statement, no semicolon (models are wrapped in subqueries)"


@pytest.mark.parametrize("mart", MARTS)
def test_mart_writes_exactly_its_tables_columns(stats_warehouse, mart):
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        table = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position", [mart]).fetchall()]
        # describe the model against an empty staging table of the right shape
        con.execute("set variable stats_day = DATE '2026-03-02'")
        con.execute("set variable stats_visitor_source = 'detail'")
        con.execute("set variable stats_visitors_exact = false")
        con.execute(f"set variable k_min = {K_MIN}")
        con.execute("create temp table stg_raw_visitors "
                    "(source_file_id integer, line_no bigint, visitor_id ubigint)")
        con.execute("create temp table stg_referrer_classes "
                    "(vhost varchar, referrer_domain varchar, referrer_class varchar)")
        con.execute("create temp view detail_batch as select * from requests")
        con.execute("create temp table stg_requests as "
                    + aggregate.model_sql("staging/stg_requests.sql"))
        model = [d[0] for d in con.execute(
            f"select * from ({aggregate.model_sql(f'marts/{mart}.sql')}) limit 0").description]
    finally:
        con.close()
    assert sorted(model) == sorted(table)


def _open_raw_day(con: duckdb.DuckDBPyConnection, cfg, day) -> None:
    files = aggregate.raw_files(cfg.data_dir, day)
    assert files
    listing = ", ".join(f"'{f.as_posix()}'" for f in files)
    con.execute(f"create temp view raw_batch as select * from read_parquet([{listing}])")
    con.execute("create temp view stg_raw_keys as "
                + aggregate.model_sql("staging/stg_raw_keys.sql"))


@pytest.mark.parametrize("model", ["stg_raw_visitors", "stg_raw_visitors_numbered"])
def test_only_numbers_come_out_of_raw(stats_warehouse, model):
    """The visitor models read full addresses and user agents (stg_raw_keys) and return
    numbers only; the staging table the marts read has no column that could hold them."""
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        _open_raw_day(con, cfg, DAYS[2])
        raw_cols = {d[0] for d in con.execute("select * from raw_batch limit 0").description}
        assert {"client_address", "client_hostname", "user_agent", "referrer"} <= raw_cols
        cur = con.execute(aggregate.model_sql(f"staging/{model}.sql"))
        assert [d[0] for d in cur.description] == ["source_file_id", "line_no", "visitor_id"]
        assert {type(v) for row in cur.fetchall() for v in row} == {int}
        con.execute("create temp view stg_raw_visitors as "
                    + aggregate.model_sql(f"staging/{model}.sql"))
        con.execute("create temp table stg_referrer_classes "
                    "(vhost varchar, referrer_domain varchar, referrer_class varchar)")
        con.execute(f"set variable stats_day = DATE '{DAYS[2]}'")
        con.execute("set variable stats_visitor_source = 'raw'")
        con.execute("create temp view detail_batch as select * from requests")
        staged = {d[0] for d in con.execute(
            aggregate.model_sql("staging/stg_requests.sql") + " limit 0").description}
    finally:
        con.close()
    assert not staged & {"client", "client_address", "client_hostname", "user_agent", "referrer",
                         "url", "remote_user", "forwarded_for"}


def test_hashed_and_numbered_visitors_group_lines_alike(stats_warehouse):
    """Both visitor models put two RAW lines in one visitor exactly when their keys (client
    and user agent) are equal; the fixture's day has repeat visitors and distinct ones."""
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        _open_raw_day(con, cfg, DAYS[2])
        partitions = {}
        for model in ("stg_raw_visitors", "stg_raw_visitors_numbered"):
            rows = con.execute(f"select source_file_id, line_no, visitor_id from ("
                               f"{aggregate.model_sql(f'staging/{model}.sql')})").fetchall()
            groups: dict[int, set] = {}
            for file_id, line_no, visitor in rows:
                groups.setdefault(visitor, set()).add((file_id, line_no))
            partitions[model] = sorted(sorted(g) for g in groups.values())
        by_key = con.execute("select list((source_file_id, line_no) order by line_no) from "
                             "stg_raw_keys group by client_key, user_agent").fetchall()
        assert aggregate.raw_visitor_collisions(con) == 0
    finally:
        con.close()
    expected = sorted(sorted(tuple(r) for r in lines) for (lines,) in by_key)
    assert partitions["stg_raw_visitors"] == partitions["stg_raw_visitors_numbered"] == expected
    assert 1 < len(expected) < sum(len(g) for g in expected)


def test_collision_check_counts_keys_sharing_an_id(stats_warehouse):
    """A 64-bit hash collision cannot be produced on demand, so the check runs over keys
    whose ids are folded into two values: every key beyond the second collides."""
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        _open_raw_day(con, cfg, DAYS[2])
        (keys,) = con.execute("select count(*) from (select distinct client_key, user_agent "
                              "from stg_raw_keys)").fetchall()[0]
        assert aggregate.raw_visitor_collisions(con) == 0
        con.execute("create or replace temp view stg_raw_keys as select * replace "
                    "(visitor_id % 2 as visitor_id) from ("
                    + aggregate.model_sql("staging/stg_raw_keys.sql") + ")")
        assert aggregate.raw_visitor_collisions(con) == keys - 2
    finally:
        con.close()
    assert keys > 2


# --------------------------------------------------------------------------- data tests

def test_data_tests_exist():
    assert set(data_tests()) >= {
        "assert_unique_keys", "assert_no_small_client_cells", "assert_totals_reconcile",
        "assert_visitors_reconcile", "assert_subsets_reconcile", "assert_stats_days_cover_marts"}


@pytest.mark.parametrize("name", sorted(data_tests()))
def test_data_test_passes_on_the_fixture(stats_warehouse, name):
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        con.execute(f"set variable k_min = {K_MIN}")
        rows = con.execute(data_tests()[name]).fetchall()
    finally:
        con.close()
    assert rows == []


# How each data test's guarded property is broken, and the test that must notice.
BREAKS = {
    "assert_unique_keys":
        "insert into daily_pages select * from daily_pages limit 1",
    "assert_no_small_client_cells":
        "update daily_countries set visitors = 1 where country <> '(other)' "
        "and rowid = (select min(rowid) from daily_countries where country <> '(other)')",
    "assert_totals_reconcile":
        "delete from daily_cities where city = '(other)'",
    "assert_visitors_reconcile":
        "update daily_networks set visitors = visitors + 1 where network = '(other)'",
    "assert_subsets_reconcile":
        "delete from daily_errors where rowid = (select min(rowid) from daily_errors)",
    "assert_stats_days_cover_marts":
        "update stats_days set visitors_exact = not visitors_exact "
        "where day = (select min(day) from stats_days)",
}


def test_every_data_test_has_a_break():
    assert set(BREAKS) == set(data_tests())


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_data_test_catches_its_break(stats_copy, name):
    cfg, _ = stats_copy
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        assert data_test_failures(con, K_MIN) == {}
        con.execute(BREAKS[name])
        failures = data_test_failures(con, K_MIN)
    finally:
        con.close()
    assert name in failures


def test_small_cell_check_uses_k_min(stats_warehouse):
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        assert "assert_no_small_client_cells" in data_test_failures(con, K_MIN + 100)
    finally:
        con.close()


def test_data_tests_run_read_only(stats_warehouse):
    cfg, _ = stats_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        for sql in data_tests().values():
            assert not re.search(r"\b(insert|update|delete|create|drop)\b", sql, re.I)
            con.execute(f"set variable k_min = {K_MIN}")
            con.execute(sql).fetchall()
    except duckdb.Error as exc:  # pragma: no cover - shows which query broke
        pytest.fail(str(exc))
    finally:
        con.close()


# --------------------------------------------------------------------------- is_asset

_PATH_TEXT = st.lists(st.sampled_from(
    ["/", ".", "?", "&", "=", "a", "Z", "9", "-", "\n", "é", "css", "JS", "woff2", "Json",
     "tar", "gz", "7z", "webmanifest", "x" * 12, "jpeg", ".PNG", "?.css", "#"]),
    max_size=8).map("".join)


@pytest.fixture(scope="module")
def staging_con(tmp_path_factory):
    """A fresh warehouse whose DETAIL (the table `detail_rows`: no files) takes the paths of
    each example; `detail_batch` is the day's DETAIL as pipelines.aggregate opens it."""
    con = warehouse.connect(tmp_path_factory.mktemp("asset") / "data")
    con.execute("create temp view detail_batch as select * from requests")
    con.execute("set variable stats_day = DATE '2026-03-02'")
    con.execute("set variable stats_visitor_source = 'detail'")
    con.execute("create temp table stg_raw_visitors "
                "(source_file_id integer, line_no bigint, visitor_id ubigint)")
    con.execute("create temp table stg_referrer_classes "
                "(vhost varchar, referrer_domain varchar, referrer_class varchar)")
    yield con
    con.close()


@settings(max_examples=150, deadline=None)
@given(paths=st.lists(st.one_of(st.none(), _PATH_TEXT), min_size=1, max_size=40))
def test_is_asset_follows_the_extension_of_the_last_segment(staging_con, paths):
    """stg_requests' one-regex is_asset equals the plain rule (the fixture's reference): the
    part before the first '?' ends in '.' + an asset extension, in any case."""
    con = staging_con
    con.execute("delete from detail_rows")
    con.executemany("insert into detail_rows (ts, day, hour, vhost, ip_version, method, path, "
                    "status, bytes, is_bot, source_file_id, line_no) values "
                    "(TIMESTAMP '2026-03-02 10:00:00', DATE '2026-03-02', 10, 'v', 4, 'GET', "
                    "?, 200, ?, false, 1, ?)", [[p, i, i] for i, p in enumerate(paths)])
    got = con.execute("select is_asset from (" + aggregate.model_sql("staging/stg_requests.sql")
                      + ") order by bytes").fetchall()  # bytes: the example's index
    assert [a for (a,) in got] == [sf._extension(p) in sf.ASSET_EXTENSIONS for p in paths]

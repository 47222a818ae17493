"""pipelines.publish: the snapshot the dashboard reads holds the statistics and ledgers,
never DETAIL or RAW, and replaces the previous one atomically."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import duckdb
import pytest
from click.testing import CliRunner

import stats_fixture as sf
from pipelines import ledger, raw, warehouse
from pipelines.aggregate import STATS_TABLES, run_aggregate
from pipelines.anonymize import find_leaks
from pipelines.cli import cli
from pipelines.config import Config
from pipelines.errors import LockedError, WeblogError
from pipelines.publish import INGEST_COLUMNS, SNAPSHOT_TABLES, publish, snapshot_path


def snapshot(cfg) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(snapshot_path(cfg.data_dir)), read_only=True)


def tables(con) -> set[str]:
    return {t for (t,) in con.execute("select table_name from information_schema.tables"
                                      ).fetchall()}


def test_aggregate_publishes_the_statistics_and_nothing_else(views_warehouse):
    cfg, _ = views_warehouse
    con = snapshot(cfg)
    wh = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        # the purge ledger exists from the start (schema 005), empty until a purge
        assert tables(con) == set(STATS_TABLES) | {"ingested_files", "purge_ledger",
                                                   "snapshot_meta"}
        assert tables(con) <= set(SNAPSHOT_TABLES)
        for table in STATS_TABLES:
            assert sorted(con.execute(f"select * from {table}").fetchall(), key=repr) == \
                sorted(wh.execute(f"select * from {table}").fetchall(), key=repr), table
        columns = [c for (c,) in con.execute("select column_name from information_schema.columns"
                                             " where table_name = 'ingested_files'").fetchall()]
        assert tuple(columns) == INGEST_COLUMNS
        meta = con.execute("select detail_first_day, detail_last_day, detail_rows "
                           "from snapshot_meta").fetchall()[0]
        assert meta == wh.execute("select min(day), max(day), count(*) from requests"
                                  ).fetchall()[0]
    finally:
        con.close()
        wh.close()


def test_snapshot_holds_no_address_or_client_network(views_warehouse):
    cfg, lines = views_warehouse
    con = snapshot(cfg)
    try:
        clients = {line.split(" ")[1] for line in lines} - {"-", "unknown"}
        texts = []
        for table in tables(con):
            for (column,) in con.execute("select column_name from information_schema.columns "
                                         "where table_name = ? and data_type = 'VARCHAR'",
                                         [table]).fetchall():
                texts += [v for (v,) in con.execute(f'select distinct "{column}" from {table} '
                                                    f'where "{column}" is not null').fetchall()]
    finally:
        con.close()
    assert len(texts) > 50
    for value in texts:
        assert find_leaks(value) == [], value
        assert not any(c.lower() in value.lower() for c in clients if "." in c or ":" in c), value
        assert "/24" not in value and "/48" not in value  # DETAIL's client_net stays behind


def test_replaced_atomically_and_leaves_no_temporary_file(stats_copy):
    cfg, _ = stats_copy
    path = snapshot_path(cfg.data_dir)
    before = os.stat(path).st_ino
    (path.parent / ".stats-left-by-a-killed-run.tmp").write_bytes(b"x")
    result = publish(cfg)
    assert result.path == path and os.stat(path).st_ino != before
    assert sorted(p.name for p in path.parent.iterdir()) == ["stats.duckdb"]
    assert result.rows["daily_traffic"] == len(sf.VHOSTS) * len(sf.DAYS)


def test_a_reader_of_the_old_snapshot_keeps_it(stats_copy):
    cfg, _ = stats_copy
    old = snapshot(cfg)
    try:
        hits = old.execute("select sum(hits) from daily_traffic").fetchall()[0][0]
        con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
        con.execute("update daily_traffic set hits = hits + 1")
        publish(cfg, con)  # through the writer's own connection, as aggregate does
        con.close()
        assert old.execute("select sum(hits) from daily_traffic").fetchall()[0][0] == hits
    finally:
        old.close()
    # a fresh attach (not duckdb.connect, which caches instances by path) sees the new file
    fresh = duckdb.connect()
    fresh.execute(f"attach '{snapshot_path(cfg.data_dir)}' as s (read_only)")
    assert fresh.execute("select sum(hits) from s.daily_traffic").fetchall()[0][0] == hits + 6


def test_purge_ledger_is_published_when_present(stats_copy):
    cfg, _ = stats_copy
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    entry = ledger.record(con, cfg, action="purge_raw", result="removed",
                          cutoff=sf.DAYS[0], details={"partitions": ["date=2026-02-28"]})
    con.close()
    publish(cfg)
    snap = snapshot(cfg)
    try:
        assert snap.execute("select sequence, action, cutoff, hash from purge_ledger"
                            ).fetchall() == [(1, "purge_raw", sf.DAYS[0], entry.hash)]
    finally:
        snap.close()


def test_warehouse_held_by_another_process(stats_copy):
    cfg, _ = stats_copy
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)",
         str(warehouse.warehouse_path(cfg.data_dir))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(LockedError, match="in use by another process"):  # exit 3
            publish(cfg)
        # a reading command at that moment: the same, not "the file is damaged"
        with pytest.raises(LockedError, match="in use by another process"):
            warehouse.connect(cfg.data_dir, read_only=True)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in snapshot_path(cfg.data_dir).parent.iterdir()) == \
        ["stats.duckdb"]


def test_a_warehouse_that_is_no_database_is_not_called_busy(tmp_path):
    cfg = Config(data_dir=tmp_path / "data")
    cfg.data_dir.mkdir()
    warehouse.warehouse_path(cfg.data_dir).write_text("garbage")
    with pytest.raises(WeblogError, match="is it a DuckDB file") as err:
        publish(cfg)
    assert not isinstance(err.value, LockedError)


def test_publish_command_and_aggregate(stats_copy):
    cfg, _ = stats_copy
    path = snapshot_path(cfg.data_dir)
    path.unlink()
    result = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "publish"],
                                env={"WEBLOG_CONFIG": None}, catch_exceptions=False)
    assert result.exit_code == 0 and str(path) in result.output
    first = os.stat(path).st_mtime_ns
    time.sleep(0.01)
    run_aggregate(cfg)  # nothing to recompute, still publishes
    assert os.stat(path).st_mtime_ns != first


def test_nothing_to_publish_without_a_warehouse(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    with pytest.raises(WeblogError, match="No warehouse"):
        publish(cfg)

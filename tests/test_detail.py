"""The DETAIL tier on disk (pipelines.detail): day-partitioned Parquet that is DETAIL exactly
when `detail_files` lists it, read through the warehouse view `requests`. Real ingests into
a real DuckDB file; files on disk are checked as files."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest

from pipelines import aggregate, detail, ingest, raw, warehouse
from pipelines.config import Config
from pipelines.ingest import ingest_paths
from pipelines.purge import purge_expired
from pipelines.verify import verify_retention
from test_ingest import line, write_log

AS_OF = dt.date(2026, 11, 15)
DAYS = [dt.date(2026, 11, d) for d in (12, 13, 14)]
SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "schema"


def _lines(day: dt.date, n: int, first: int = 1) -> list[str]:
    stamp = day.strftime("%d/%b/%Y")
    return [line(f"198.51.100.{(first + i) % 250 + 1}", f"{stamp}:10:{i % 60:02d}:00 +0000",
                 path=f"/p{i % 7}") for i in range(n)]


def _site(root: Path, **kwargs) -> Config:
    cfg = Config(data_dir=root / "data", timezone="UTC", **kwargs)
    log = write_log(root / "access.log", [x for d in DAYS for x in _lines(d, 40)])
    (result,) = ingest_paths(cfg, [str(log)], as_of=AS_OF)
    assert result.status == "ingested" and result.lines_parsed == 120
    return cfg


def _query(cfg: Config, sql: str, read_only: bool = True) -> list[tuple]:
    con = warehouse.connect(cfg.data_dir, read_only=read_only)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def site(tmp_path) -> Config:
    return _site(tmp_path)


def test_an_ingest_writes_one_listed_owner_only_file_per_day(site):
    files = detail.on_disk(site.data_dir)
    assert [f.parent.name for f in files] == [f"date={d}" for d in DAYS]
    assert [f.name for f in files] == ["1-0.parquet"] * 3
    listed = _query(site, "select name, day, file_id, row_count from detail_files order by name")
    assert listed == [(f"detail/date={d}/1-0.parquet", d, 1, 40) for d in DAYS]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == raw.FILE_MODE
        assert stat.S_IMODE(f.parent.stat().st_mode) == raw.DIR_MODE
        # every row of a file is of its day
        ((days,),) = duckdb.sql(f"select list(distinct day) from read_parquet('{f}')").fetchall()
        assert days == [raw.partition_day(f.parent.name)]
    assert _query(site, "select count(*) from requests") == [(120,)]
    assert _query(site, "select count(*) from detail_rows") == [(0,)]
    assert not (raw.staging_root(site.data_dir) / "1").exists()


def test_the_view_has_the_columns_and_types_of_the_table(site):
    view = _query(site, "select column_name, data_type from duckdb_columns() "
                        "where table_name = 'requests' order by column_index")
    table = _query(site, "select column_name, data_type from duckdb_columns() "
                         "where table_name = 'detail_rows' order by column_index")
    assert view == table and len(view) == 27


def test_a_file_no_transaction_listed_is_not_detail_and_is_swept(site):
    """What a run killed between moving its files and its commit leaves: a file under
    detail/ that is not listed. It is not read, verify names it, the next writer deletes it."""
    stray = detail.detail_root(site.data_dir) / f"date={DAYS[0]}" / "9-0.parquet"
    shutil.copy(detail.on_disk(site.data_dir)[0], stray)
    assert _query(site, "select count(*) from requests") == [(120,)]
    evidence = [e for c in verify_retention(site, as_of=AS_OF).checks for e in c.evidence]
    assert any(e.startswith("detail/: 1 files no transaction lists as DETAIL") for e in evidence)

    con = warehouse.connect(site.data_dir)
    try:
        ingest.recover(con, site.data_dir)
    finally:
        con.close()
    assert not stray.exists() and len(detail.on_disk(site.data_dir)) == 3
    assert verify_retention(site, as_of=AS_OF).passed


def test_a_failed_commit_leaves_no_file_behind(site, tmp_path, monkeypatch):
    """The commit moves the staged files into detail/ before its transaction: when the
    transaction fails they are deleted again and nothing of the file is DETAIL."""
    log = write_log(tmp_path / "more.log", _lines(DAYS[1], 10, first=100))

    def fail(*args, **kwargs):  # a fault injected into our own code: the transaction fails
        raise duckdb.IOException("disk trouble")
    monkeypatch.setattr(detail, "register", fail)
    (result,) = ingest_paths(site, [str(log)], as_of=AS_OF)
    assert result.status == "failed" and "nothing of it was kept" in result.error
    monkeypatch.undo()
    assert len(detail.on_disk(site.data_dir)) == 3
    assert _query(site, "select count(*) from requests") == [(120,)]
    assert _query(site, "select count(*) from ingested_files") == [(1,)]
    (again,) = ingest_paths(site, [str(log)], as_of=AS_OF)
    assert again.status == "ingested"
    assert _query(site, "select count(*) from requests") == [(130,)]


def test_a_moved_data_directory_reads_its_own_files(site, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(site.data_dir, moved)
    cfg = Config(data_dir=moved, timezone="UTC")
    # read-only: a temporary view over the files where they are now
    assert _query(cfg, "select count(*) from requests") == [(120,)]
    # the first writer rewrites the stored view
    assert _query(cfg, "select count(*) from requests", read_only=False) == [(120,)]
    con = duckdb.connect(str(warehouse.warehouse_path(moved)), read_only=True)
    try:
        assert con.execute("select count(*) from requests").fetchall() == [(120,)]
    finally:
        con.close()


def test_statistics_from_files_equal_statistics_from_the_table(site, tmp_path):
    """The same DETAIL rows, once as files and once in the table `detail_rows` (where a
    warehouse of an earlier version keeps them), give the same statistics."""
    files_result = aggregate.run_aggregate(site)
    con = warehouse.connect(site.data_dir)
    try:
        from_files = con.execute("select * from daily_traffic order by all").fetchall()
        with warehouse.transaction(con):
            con.execute("insert into detail_rows select * from requests")
            detail.unregister(con, detail.listed(con))
            detail.refresh_view(con, site.data_dir)
        detail.sweep(con, site.data_dir)
    finally:
        con.close()
    assert detail.on_disk(site.data_dir) == []
    table_result = aggregate.run_aggregate(site, start=DAYS[0], end=DAYS[-1])
    assert table_result.days == files_result.days == [d.isoformat() for d in DAYS]
    assert _query(site, "select * from daily_traffic order by all") == from_files


def test_a_warehouse_of_an_earlier_version_keeps_its_detail_rows(tmp_path):
    """Migration 006 renames the table `requests` to `detail_rows` and makes `requests` a
    view: the rows stay readable, new ingests add files, purge deletes both."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(warehouse.warehouse_path(data)))
    con.execute("create table schema_migrations (version integer primary key, "
                "name varchar not null, applied_at timestamp not null)")
    for version, path in warehouse.migrations():
        if version < 6:
            con.execute(path.read_text())
            con.execute("insert into schema_migrations values (?, ?, now()::timestamp)",
                        [version, path.name])
    # (source file 0: older than any ledger row, so statistics computed later cover it)
    con.execute("insert into requests (ts, day, hour, vhost, bytes, is_bot, source_file_id, "
                "line_no) select TIMESTAMP '2026-10-01 10:00', DATE '2026-10-01', 10, 'v', 1, "
                "false, 0, range from range(5)")
    con.close()
    cfg = Config(data_dir=data, timezone="UTC", detail_days=30)
    log = write_log(tmp_path / "access.log", _lines(DAYS[0], 10))
    (result,) = ingest_paths(cfg, [str(log)], as_of=AS_OF)
    assert result.status == "ingested"
    assert _query(cfg, "select day, count(*) from requests group by day order by day") == [
        (dt.date(2026, 10, 1), 5), (DAYS[0], 10)]
    con = warehouse.connect(data)
    try:
        assert detail.rows_per_day(con) == {dt.date(2026, 10, 1): 5, DAYS[0]: 10}
    finally:
        con.close()
    purged = purge_expired(cfg, as_of=AS_OF)
    assert purged.detail["rows"] == 5
    assert _query(cfg, "select day, count(*) from requests group by day") == [(DAYS[0], 10)]


def test_purge_deletes_the_files_of_expired_days(tmp_path):
    cfg = _site(tmp_path, detail_days=2)
    result = purge_expired(cfg, as_of=AS_OF)  # DETAIL window: 2026-11-13 .. 2026-11-15
    assert result.detail["rows"] == 40 and result.detail["days"] == 1
    assert [f.parent.name for f in detail.on_disk(cfg.data_dir)] == [
        f"date={d}" for d in DAYS[1:]]
    assert not (detail.detail_root(cfg.data_dir) / f"date={DAYS[0]}").exists()
    assert _query(cfg, "select min(day), count(*) from requests") == [(DAYS[1], 80)]
    assert verify_retention(cfg, as_of=AS_OF).passed


def test_names_and_ids(tmp_path):
    assert detail.file_id_of("detail/date=2026-11-12/12-3.parquet") == 12
    erased = detail.erased_name("detail/date=2026-11-12/12-3.parquet", "20261130T010203-ab12cd34")
    assert erased == "detail/date=2026-11-12/12-3.e20261130t010203-ab12cd34.parquet"
    assert detail.file_id_of(erased) == 12
    again = detail.erased_name(erased, "20261201T000000-00ff00ff")
    assert again == "detail/date=2026-11-12/12-3.e20261201t000000-00ff00ff.parquet"
    assert detail.file_id_of("detail/date=2026-11-12/notes.txt") is None
    with pytest.raises(ValueError):
        con = warehouse.connect(tmp_path / "data")
        try:
            junk = raw.ensure_dir(detail.detail_root(tmp_path / "data") / "date=2026-11-12")
            (junk / "x.parquet").write_bytes(b"")
            detail.register(con, tmp_path / "data", [junk / "x.parquet"])
        finally:
            con.close()


def test_many_days_in_one_chunk_are_split_by_day(tmp_path):
    """A sparse log whose one chunk spans more days than DETAIL_DAYS_PER_SCAN."""
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(10)]
    cfg = Config(data_dir=tmp_path / "data", timezone="UTC")
    log = write_log(tmp_path / "sparse.log", [x for d in days for x in _lines(d, 3)])
    assert len(days) > ingest.DETAIL_DAYS_PER_SCAN
    (result,) = ingest_paths(cfg, [str(log)], as_of=AS_OF)
    assert result.lines_parsed == 30
    files = detail.on_disk(cfg.data_dir)
    assert [f.parent.name for f in files] == [f"date={d}" for d in days]
    assert _query(cfg, "select day, count(*) from requests group by day order by day") == [
        (d, 3) for d in days]
    assert os.listdir(raw.staging_root(cfg.data_dir)) == []

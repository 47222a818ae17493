"""pipelines.compact: deleted rows stay in a DuckDB file's bytes until it is rewritten;
the rewrite removes them and carries everything else over, the ledger included.

Values are stored uncompressed (force_compression) so a byte scan sees every copy."""
from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest

from pipelines import compact, ledger, warehouse
from pipelines.config import Config

DELETED = b"MARKER-DELETED-7f3a"
KEPT = b"MARKER-KEPT-51c2"


def _build(cfg: Config) -> None:
    con = warehouse.connect(cfg.data_dir)
    try:
        con.execute("set force_compression = 'uncompressed'")
        con.execute("create table notes (day date, body varchar)")
        con.execute("insert into notes select date '2026-01-01' + i::integer, "
                    "case when i < 500 then ? else ? end || '-' || i from range(1000) r(i)",
                    [DELETED.decode(), KEPT.decode()])
        con.execute("select nextval('ingested_files_seq')")
        ledger.record(con, cfg, action="purge_detail", result="removed",
                      cutoff=dt.date(2026, 1, 1), details={"rows": 500, "count": 500})
        con.execute("delete from notes where body like 'MARKER-DELETED%'")
        con.execute("checkpoint")
    finally:
        con.close()


@pytest.fixture
def cfg(tmp_path) -> Config:
    c = Config(data_dir=tmp_path / "data")
    _build(c)
    return c


def _bytes(cfg: Config) -> bytes:
    return warehouse.warehouse_path(cfg.data_dir).read_bytes()


def test_delete_and_checkpoint_leave_the_values_in_the_file(cfg):
    """The DuckDB behaviour the rewrite exists for (../shared/DEPENDENCY-NOTES.md)."""
    con = duckdb.connect(str(warehouse.warehouse_path(cfg.data_dir)))
    con.execute("vacuum notes")
    con.execute("checkpoint")
    assert con.execute("select count(*) from notes where body like 'MARKER-DELETED%'"
                       ).fetchall() == [(0,)]
    con.close()
    assert DELETED in _bytes(cfg)


def test_rewrite_removes_deleted_values_and_keeps_everything_else(cfg):
    path = warehouse.warehouse_path(cfg.data_dir)
    os.chmod(path, 0o640)
    con = warehouse.connect(cfg.data_dir, read_only=True)
    before = {t: con.execute(f"select * from {t} order by all").fetchall()
              for t in ("notes", "purge_ledger", "schema_migrations")}
    con.close()
    probe = duckdb.connect(str(path), read_only=True)
    assert compact.needs_rewrite(probe) == 1
    probe.close()

    done = compact.rewrite(cfg.data_dir, force_compression="uncompressed")

    data = _bytes(cfg)
    assert DELETED not in data and KEPT in data  # and the scan can see what is there
    assert done["rows"]["notes"] == 500 and done["bytes_after"] > 0
    assert path.stat().st_mode & 0o777 == 0o640
    assert not compact.rewrite_path(cfg.data_dir).exists()
    con = warehouse.connect(cfg.data_dir)
    try:
        for table, rows in before.items():
            assert con.execute(f"select * from {table} order by all").fetchall() == rows, table
        assert ledger.verify_ledger(con, cfg.data_dir).problems == []
        # sequences keep their place: the next ingest gets a new file_id
        assert con.execute("select nextval('ingested_files_seq')").fetchall() == [(2,)]
        assert con.execute("select count(*) from purge_ledger").fetchall() == [(1,)]
    finally:
        con.close()


def test_needs_rewrite_follows_the_ledger(cfg):
    con = warehouse.connect(cfg.data_dir)
    try:
        assert compact.needs_rewrite(con) == 1
        ledger.record(con, cfg, action="rewrite_warehouse", result="rewritten", cutoff=None,
                      details={"after_sequence": 1})
        assert compact.needs_rewrite(con) is None
        ledger.record(con, cfg, action="erase_subject", result="erased", cutoff=None,
                      details={"detail_rows": 0, "files": []})
        assert compact.needs_rewrite(con) is None  # it deleted nothing inside the file
        ledger.record(con, cfg, action="erase_subject", result="erased", cutoff=None,
                      details={"detail_rows": 3, "files": []})
        assert compact.needs_rewrite(con) == 4
    finally:
        con.close()


def test_a_leftover_of_a_killed_rewrite_is_cleared_and_redone(cfg):
    leftover = compact.rewrite_path(cfg.data_dir)
    leftover.write_bytes(b"half a database")
    assert compact.clear_leftover(cfg.data_dir) and not leftover.exists()
    leftover.write_bytes(b"half a database")
    compact.rewrite(cfg.data_dir)
    assert not leftover.exists()
    con = warehouse.connect(cfg.data_dir, read_only=True)
    assert con.execute("select count(*) from notes").fetchall() == [(500,)]
    con.close()

"""The RAW tier on disk (pipelines.raw): owner-only permissions (privacy invariant 7),
staging, promotion, recovery after a crash, and the partition listing."""
from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import duckdb
import pytest

from pipelines import raw
from pipelines.config import Config
from pipelines.ingest import ingest_paths

AS_OF = dt.date(2026, 11, 15)
LINES = (
    '192.0.2.1 - - [14/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
    '192.0.2.2 - - [13/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"\n'
    "not a log line\n"
)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of every folder and file under root, root included."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def stage_parquet(data_dir: Path, file_id: int, day: str) -> Path:
    """A staged RAW file as ingest writes it (real Parquet)."""
    folder = raw.ensure_dir(raw.staging_dir(data_dir, file_id) / f"date={day}")
    target = folder / f"{file_id}-0_0.parquet"
    duckdb.sql(f"COPY (SELECT DATE '{day}' AS day, {file_id} AS source_file_id, 1 AS line_no) "
               f"TO '{target}' (FORMAT parquet)")
    return target


@pytest.fixture
def permissive_umask():
    old = os.umask(0o002)  # group- and world-readable by default: RAW must not care
    try:
        yield
    finally:
        os.umask(old)


def test_everything_under_raw_is_owner_only_after_ingest(tmp_path, permissive_umask):
    cfg = Config(data_dir=tmp_path / "data")
    log_file = tmp_path / "access.log"
    log_file.write_text(LINES)
    stdin_like = tmp_path / "second.log"
    stdin_like.write_text(LINES.replace("192.0.2.", "198.51.100."))
    ingest_paths(cfg, [str(log_file), str(stdin_like)], as_of=AS_OF)
    got = modes(raw.raw_root(cfg.data_dir))
    assert len(got) > 8  # raw/, partitions, files, rejects, staging, tmp, spool
    assert any(name.endswith(".parquet") for name in got)
    assert any(name.startswith("rejects/date=") for name in got)
    for name, mode in got.items():
        path = raw.raw_root(cfg.data_dir) / name
        expected = raw.DIR_MODE if path.is_dir() else raw.FILE_MODE
        assert mode == expected, (name, oct(mode))
    assert os.umask(0o002) == 0o002  # ingest restored the process umask


def test_private_umask_restores_the_old_one():
    old = os.umask(0o022)
    try:
        with raw.private_umask():
            assert os.umask(0o077) == 0o077
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)


def test_prepare_tightens_existing_folders(tmp_path):
    root = tmp_path / "data" / "raw"
    root.mkdir(parents=True, mode=0o755)
    os.chmod(root, 0o755)
    raw.prepare(tmp_path / "data")
    for folder in (root, raw.rejects_root(tmp_path / "data"), raw.staging_root(tmp_path / "data"),
                   raw.temp_root(tmp_path / "data"), raw.spool_root(tmp_path / "data")):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_fix_permissions(tmp_path):
    data = tmp_path / "data"
    raw.prepare(data)
    loose = raw.raw_root(data) / "date=2026-11-14"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    f = loose / "1-0_0.parquet"
    f.write_bytes(b"x")
    os.chmod(f, 0o644)
    assert raw.fix_permissions(data) == 2
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert raw.fix_permissions(data) == 0
    assert raw.fix_permissions(tmp_path / "none") == 0


# --------------------------------------------------------------------------- promote / recover

def test_promote_moves_staged_files_into_place(tmp_path, permissive_umask):
    data = tmp_path / "data"
    raw.prepare(data)
    staged = stage_parquet(data, 7, "2026-11-14")
    os.chmod(staged, 0o644)
    moved = raw.promote(data, 7)
    target = raw.raw_root(data) / "date=2026-11-14" / "7-0_0.parquet"
    assert moved == [target]
    assert not staged.exists() and not raw.staging_dir(data, 7).exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert duckdb.sql(f"SELECT source_file_id FROM '{target}'").fetchall() == [(7,)]
    assert raw.promote(data, 7) == []  # nothing staged: nothing to do


def test_promote_keeps_other_files_of_the_same_day(tmp_path):
    data = tmp_path / "data"
    raw.prepare(data)
    stage_parquet(data, 1, "2026-11-14")
    raw.promote(data, 1)
    stage_parquet(data, 2, "2026-11-14")
    raw.promote(data, 2)
    names = sorted(p.name for p in (raw.raw_root(data) / "date=2026-11-14").iterdir())
    assert names == ["1-0_0.parquet", "2-0_0.parquet"]


def test_recover_promotes_committed_and_discards_uncommitted(tmp_path):
    data = tmp_path / "data"
    raw.prepare(data)
    stage_parquet(data, 1, "2026-11-13")
    stage_parquet(data, 2, "2026-11-14")
    (raw.staging_root(data) / "junk").mkdir()
    (raw.temp_root(data) / "duckdb_temp_storage-0.tmp").write_bytes(b"spill")
    (raw.spool_root(data) / "stdin-abc").write_bytes(b"192.0.2.1 - -")
    (raw.temp_root(data) / "sub").mkdir()
    done = raw.recover(data, committed={1, 99})
    assert done == {"promoted": [1], "discarded": [2]}
    assert (raw.raw_root(data) / "date=2026-11-13" / "1-0_0.parquet").is_file()
    assert list(raw.raw_days(data)) == [dt.date(2026, 11, 13)]
    assert not any(raw.staging_root(data).iterdir())
    assert not any(raw.temp_root(data).iterdir())
    assert not any(raw.spool_root(data).iterdir())


def test_recover_without_staging_does_nothing(tmp_path):
    assert raw.recover(tmp_path / "data", committed=set()) == {"promoted": [], "discarded": []}


def test_discard(tmp_path):
    data = tmp_path / "data"
    stage_parquet(data, 3, "2026-11-14")
    raw.discard(data, 3)
    assert not raw.staging_dir(data, 3).exists()
    raw.discard(data, 3)  # idempotent


# --------------------------------------------------------------------------- partitions

def test_partition_names_round_trip():
    day = dt.date(2026, 11, 8)
    assert raw.partition_name(day) == "date=2026-11-08"
    assert raw.partition_day("date=2026-11-08") == day
    for name in ("date=2026-11-8", "day=2026-11-08", "date=2026-11-08x", ".staging", "rejects"):
        assert raw.partition_day(name) is None, name


def test_partitions_listing(tmp_path):
    data = tmp_path / "data"
    raw.prepare(data)
    root = raw.raw_root(data)
    for name in ("date=2026-11-14", "date=2026-11-08", "date=2026-11-10"):
        (root / name).mkdir()
    (root / "date=2026-11-09").write_text("a file, not a partition")
    (root / "date=bogus").mkdir()
    (raw.rejects_root(data) / "date=2026-11-15").mkdir()
    assert list(raw.raw_days(data)) == [dt.date(2026, 11, 8), dt.date(2026, 11, 10),
                                        dt.date(2026, 11, 14)]
    assert raw.raw_days(data)[dt.date(2026, 11, 8)] == root / "date=2026-11-08"
    assert list(raw.reject_days(data)) == [dt.date(2026, 11, 15)]
    assert raw.partitions(tmp_path / "missing") == {}


def test_layout_paths(tmp_path):
    data = tmp_path / "data"
    assert raw.raw_root(data) == data / "raw"
    assert raw.rejects_root(data) == data / "raw" / "rejects"
    assert raw.staging_dir(data, 12) == data / "raw" / ".staging" / "12"
    assert raw.temp_root(data).parent == raw.spool_root(data).parent == data / "raw"

"""Ingest as plan -> stage -> commit (pipelines.ingest), the steps the flows run apart.

No Prefect here: staging in another process stands for a Dask worker.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import agents, ingest, raw
from pipelines.config import load_config, to_toml
from pipelines.errors import ConfigError
from pipelines.lock import data_dir_lock
from site_fixture import AS_OF, build_geoip, demo_logs, load, snapshot, write_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def geoip(tmp_path_factory) -> Path:
    return build_geoip(tmp_path_factory.mktemp("geoip"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    demo_logs(folder, days=3, per_day=200, duplicates=True)
    return folder


def _ledger_ids(cfg) -> list[int]:
    import duckdb

    con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT file_id FROM ingested_files ORDER BY 1").fetchall()
        return [i for (i,) in rows]
    finally:
        con.close()


def test_plan_skips_same_bytes_and_reserves_ids_in_order(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip))
    planned = ingest.plan_sources(cfg)
    names = [Path(p.shown).name for p in planned]
    assert names[0] == "access.log.2.gz"  # oldest first
    copy = next(p for p in planned if p.shown.endswith(".copy.gz"))
    assert copy.file_id is None and copy.duplicate_of.endswith("access.log.2.gz")
    ids = [p.file_id for p in planned if p.file_id is not None]
    assert ids == list(range(1, len(ids) + 1))
    for p in planned:
        if p.file_id is not None:
            assert (raw.staging_dir(cfg.data_dir, p.file_id) / ingest.PLAN_NAME).is_file()


def test_stage_in_another_process_then_commit_equals_serial(tmp_path, logs, geoip):
    serial = load(write_config(tmp_path, logs, geoip, name="serial.toml", data_dir="serial"))
    results = ingest.ingest_sources(serial, as_of=AS_OF)
    assert [r.status for r in results].count("already ingested") == 2

    config = write_config(tmp_path, logs, geoip, name="apart.toml", data_dir="apart")
    cfg = load(config)
    planned = ingest.plan_sources(cfg)
    for p in reversed(planned):  # staged in any order, each in a process of its own
        if p.file_id is not None:
            subprocess.run([sys.executable, "-c",
                            "import sys, datetime as dt; from pipelines import ingest; "
                            "from pipelines.config import load_config; "
                            "ingest.stage_file(load_config(sys.argv[1]), int(sys.argv[2]), "
                            "as_of=dt.date.fromisoformat(sys.argv[3]))",
                            str(config), str(p.file_id), AS_OF.isoformat()],
                           cwd=REPO, check=True)
    apart = [ingest.commit_ingest(cfg, p.file_id) if p.file_id is not None
             else ingest.skipped_result(p) for p in planned]
    assert [r.status for r in apart] == [r.status for r in results]
    a, b = snapshot(serial), snapshot(cfg)
    for key in a:
        assert a[key] == b[key], key


def test_staging_twice_gives_the_same_files(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip))
    first = ingest.plan_sources(cfg)[0]
    one = ingest.stage_file(cfg, first.file_id, as_of=AS_OF)
    stage = raw.staging_dir(cfg.data_dir, first.file_id)
    files = sorted(p.relative_to(stage) for p in stage.rglob("*.parquet"))
    two = ingest.stage_file(cfg, first.file_id, as_of=AS_OF)  # a retry
    assert sorted(p.relative_to(stage) for p in stage.rglob("*.parquet")) == files
    assert {k: v for k, v in one.to_dict().items() if k not in ("seconds", "timings")} == \
        {k: v for k, v in two.to_dict().items() if k not in ("seconds", "timings")}
    assert (stage / raw.DETAIL_STAGE).is_dir()
    result = ingest.commit_ingest(cfg, first.file_id)
    assert result.status == "ingested" and not stage.exists()
    assert not (raw.raw_root(cfg.data_dir) / raw.DETAIL_STAGE).exists()  # never promoted


class QuotingParser:
    """Stands in for ua-parser failing with the agent it choked on in its message."""

    def __init__(self, real):
        self.real = real

    def parse(self, ua: str):
        if "HOSTILE" in ua:
            raise ValueError(f"cannot parse {ua!r} from 198.51.100.66")
        return self.real.parse(ua)


def test_a_failing_line_gives_file_and_lines_never_content(tmp_path, geoip, monkeypatch):
    folder = tmp_path / "logs"
    folder.mkdir()
    line = ('198.51.100.66 - - [14/Nov/2026:10:00:00 +0900] "GET /?q=SECRET HTTP/1.1" 200 5 '
            '"-" "{}"\n')
    (folder / "access.log").write_text(line.format("Mozilla/5.0") * 7 + line.format("HOSTILE/1"))
    cfg = load(write_config(tmp_path, folder, geoip))
    monkeypatch.setattr(agents, "_parser_instance", QuotingParser(agents._parser()))
    [result] = ingest.ingest_sources(cfg, as_of=AS_OF)
    assert result.status == "failed"
    assert result.error == (f"Ingest of {folder / 'access.log'} failed at lines 1-8 "
                            "(ValueError); nothing of it was kept.")
    assert list((raw.staging_root(cfg.data_dir)).iterdir()) == []
    assert _ledger_ids(cfg) == []


def test_a_failing_chunk_is_named_while_later_chunks_are_parsed(tmp_path, geoip, monkeypatch):
    """The stage classifies chunk K while it parses K+1: an error in K's classify step
    names K's lines, not those of the chunk being parsed when it surfaced."""
    from pipelines import lines

    folder = tmp_path / "logs"
    folder.mkdir()
    line = ('198.51.100.{n} - - [14/Nov/2026:10:00:00 +0900] "GET /p{n} HTTP/1.1" 200 5 '
            '"-" "{agent}"\n')
    texts = [line.format(n=i % 250, agent="HOSTILE/1" if i == 2500 else f"Mozilla/5.0 ({i})")
             for i in range(1, 4001)]
    (folder / "access.log").write_text("".join(texts))
    monkeypatch.setattr(lines, "CHUNK_BYTES", 16 << 10)  # ~140 lines a chunk after the first
    with open(folder / "access.log", "rb") as handle:
        chunks = list(lines.iter_chunks(handle, lines.ReadStats()))
    assert len(chunks) > 6
    [bad] = [(c.first_line_no, c.first_line_no + c.num_lines - 1) for c in chunks
             if c.first_line_no <= 2500 < c.first_line_no + c.num_lines]
    cfg = load(write_config(tmp_path, folder, geoip))
    monkeypatch.setattr(agents, "_parser_instance", QuotingParser(agents._parser()))
    [result] = ingest.ingest_sources(cfg, as_of=AS_OF)
    assert result.status == "failed"
    assert result.error == (f"Ingest of {folder / 'access.log'} failed at lines "
                            f"{bad[0]}-{bad[1]} (ValueError); nothing of it was kept.")
    assert list((raw.staging_root(cfg.data_dir)).iterdir()) == []
    assert _ledger_ids(cfg) == []


def test_a_run_killed_after_staging_starts_that_file_again(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip))
    planned = ingest.plan_sources(cfg)
    ingest.stage_file(cfg, planned[0].file_id, as_of=AS_OF)  # ... and the process dies
    results = ingest.ingest_sources(cfg, as_of=AS_OF)
    assert [r.status for r in results].count("ingested") == 3
    assert list(raw.staging_root(cfg.data_dir).iterdir()) == []
    reserved = max(p.file_id for p in planned if p.file_id is not None)
    assert len(_ledger_ids(cfg)) == 3 and min(_ledger_ids(cfg)) > reserved


def test_plan_and_commit_take_the_lock_reentrantly(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip))
    with data_dir_lock(cfg.data_dir, wait_seconds=0):  # as the flows hold it
        planned = ingest.plan_sources(cfg)
        ingest.stage_file(cfg, planned[0].file_id, as_of=AS_OF)
        assert ingest.commit_ingest(cfg, planned[0].file_id).status == "ingested"


def test_source_jobs_read_each_file_like_its_source(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip))
    configured = ingest.source_files(cfg)
    assert ingest.source_jobs(cfg) == configured
    one = str(logs / "access.log")
    assert ingest.source_jobs(cfg, [one]) == [j for j in configured if j[0] == one]
    assert configured[0][2] == "www.example.com"
    stray = tmp_path / "other.log"
    stray.write_text("")
    [(name, fmt, vhost)] = ingest.source_jobs(cfg, [str(stray)])
    assert (name, fmt.name, vhost) == (str(stray), "auto", None)


def test_config_round_trips_through_toml(tmp_path, logs, geoip):
    cfg = load(write_config(tmp_path, logs, geoip, extra='[prefect]\ntask_runner = "dask"\n'
                            'dask_address = "tcp://127.0.0.1:8786"\nworkers = 2\n'))
    again = tmp_path / "again.toml"
    again.write_text(to_toml(cfg))
    assert load_config(again) == cfg


@pytest.mark.parametrize("extra, message", [
    ('[prefect]\ntask_runner = "celery"\n', "must be one of thread, dask"),
    ("[prefect]\nworkers = 0\n", "prefect.workers must be at least 1"),
])
def test_prefect_settings_are_validated(tmp_path, logs, geoip, extra, message):
    with pytest.raises(ConfigError, match=message):
        load(write_config(tmp_path, logs, geoip, extra=extra))

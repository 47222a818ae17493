"""Two writers at once: the data-dir lock (pipelines.lock) serialises them, nothing is
counted twice; a run that cannot get the lock within prefect.lock_wait_seconds stops
with one clear sentence and exit code 3; the dashboard keeps answering while a real
`weblog ingest` and `weblog aggregate` write."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from fault_kit import WEBLOG, env_for, leftovers, lock_taken_by
from pipelines.config import load_config
from pipelines.lock import data_dir_lock
from pipelines.serve import create_app
from site_fixture import build_geoip, demo_logs, write_config

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 15)
REPO = Path(__file__).resolve().parent.parent


def site(root: Path, extra: str = "", days: int = 3, per_day: int = 100):
    build_geoip(root / "geoip")
    demo_logs(root / "logs", days=days, per_day=per_day)
    return load_config(write_config(root, root / "logs", root / "geoip", extra=extra))


def weblog(cfg, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([WEBLOG, "--config", str(cfg.config_file), *args], cwd=REPO,
                            env=env or env_for(REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def counts(cfg) -> tuple[list[tuple], int, int]:
    con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        ledger = con.execute("select regexp_extract(path, '[^/]+$'), count(*), sum(lines_read) "
                             "from ingested_files group by 1 order by 1").fetchall()
        (detail,) = con.execute("select count(*) from requests").fetchall()[0]
        (parsed,) = con.execute("select sum(lines_parsed) from ingested_files").fetchall()[0]
        return ledger, detail, parsed
    finally:
        con.close()


def test_two_ingests_at_once_are_serialised_and_count_each_line_once(tmp_path):
    cfg = site(tmp_path)
    runs = [weblog(cfg, "ingest", "--as-of", str(AS_OF), "--json") for _ in range(2)]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err for _, err in outputs]
    statuses = sorted(sorted(f["status"] for f in json.loads(out)) for out, _ in outputs)
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    # one run ingested every file, the other found each already ingested
    assert statuses == [["already ingested"] * len(files), ["ingested"] * len(files)]
    ledger, detail, parsed = counts(cfg)
    assert [(name, n) for name, n, _ in ledger] == [(name, 1) for name in files]
    assert detail == parsed > 0
    assert leftovers(cfg.data_dir) == []


COMMANDS = {  # what the message calls the run: its command line
    "ingest": ["ingest", "--as-of", str(AS_OF)],
    "aggregate": ["aggregate"],
    "purge": ["purge", "--as-of", str(AS_OF)],
    "subject erase": ["subject", "erase", "192.0.2.10", "--yes"],
    "subject find": ["subject", "find", "192.0.2.10"],
    "verify": ["audit", "verify", "--as-of", str(AS_OF)],
    "publish": ["publish"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_held_lock_stops_a_command_after_lock_wait_seconds(tmp_path, command):
    """Another run holds the lock for longer than prefect.lock_wait_seconds: the command
    waits that long, then stops with one sentence on stderr and exit code 3, untouched."""
    cfg = site(tmp_path, "[prefect]\nlock_wait_seconds = 1\n", days=1, per_day=20)
    with data_dir_lock(cfg.data_dir):
        run = weblog(cfg, *COMMANDS[command])
        out, err = run.communicate(timeout=120)
    assert run.returncode == 3, out + err
    assert err == (f"weblog: error: Another weblog run holds {cfg.data_dir / '.weblog.lock'} "
                   f"(waited 1 s); {command} did not start.\n")
    assert not (cfg.data_dir / "warehouse.duckdb").exists()


def test_a_waiting_command_runs_once_the_lock_is_released(tmp_path):
    cfg = site(tmp_path, "[prefect]\nlock_wait_seconds = 120\n", days=1, per_day=20)
    with data_dir_lock(cfg.data_dir):
        run = weblog(cfg, "ingest", "--as-of", str(AS_OF), "--json")
        time.sleep(1.5)  # longer than the child needs to start and reach the lock
        assert run.poll() is None and not (cfg.data_dir / "warehouse.duckdb").exists()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert {f["status"] for f in json.loads(out)} == {"ingested"}


def test_two_nightly_runs_at_once_are_serialised(tmp_path, prefect_harness):
    """Two `weblog nightly` processes (against one Prefect server, as deployments run):
    both complete, one after the other; the second finds every file already ingested."""
    from prefect.settings import PREFECT_API_URL

    cfg = site(tmp_path, days=2, per_day=60)
    env = {**env_for(REPO), "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PREFECT_HOME": str(prefect_harness.home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    runs = [weblog(cfg, "nightly", "--as-of", str(AS_OF), "--json", env=env) for _ in range(2)]
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    statuses = sorted(sorted({f["status"] for f in s["ingest"]}) for s in summaries)
    assert statuses == [["already ingested"], ["ingested"]]
    ledger, detail, parsed = counts(cfg)
    assert all(n == 1 for _, n, _ in ledger) and detail == parsed > 0
    assert leftovers(cfg.data_dir) == []


def test_the_dashboard_answers_while_ingest_and_aggregate_write(tmp_path):
    """A real `weblog ingest` then `weblog aggregate` hold the warehouse read-write; the
    dashboard, reading the published snapshot, answers every request meanwhile and shows
    the new statistics once aggregate has published them."""
    cfg = site(tmp_path, days=2, per_day=60)
    first = weblog(cfg, "ingest", "--as-of", str(AS_OF))
    assert first.wait(timeout=300) == 0
    assert weblog(cfg, "aggregate").wait(timeout=300) == 0
    app = TestClient(create_app(cfg), base_url="http://127.0.0.1")
    before = sum(r["hits"] for r in app.get("/api/v1/daily_traffic").json()["rows"])

    late = tmp_path / "late"
    demo_logs(late, days=6, per_day=400, as_of=AS_OF - dt.timedelta(days=2))
    writer = subprocess.Popen(
        ["/bin/sh", "-c", f'"{WEBLOG}" --config "{cfg.config_file}" ingest "{late}/*" '
         f'--as-of {AS_OF} && "{WEBLOG}" --config "{cfg.config_file}" aggregate'],
        cwd=REPO, env=env_for(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answered, while_locked = 0, 0
    try:
        while writer.poll() is None:
            locked = _locked(cfg.data_dir)
            for path in ("/", "/api/v1/daily_traffic", "/api/v1/summary", "/audit"):
                assert app.get(path).status_code == 200, path
                answered += 1
                while_locked += locked
    finally:
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert while_locked >= 4  # it really answered while a writer held the lock
    after = sum(r["hits"] for r in app.get("/api/v1/daily_traffic").json()["rows"])
    assert after > before


def _locked(data_dir: Path) -> bool:
    """Some other process holds the data-dir lock right now."""
    import fcntl

    try:
        fd = os.open(data_dir / ".weblog.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_lock_holder_is_identified_by_pid(tmp_path):
    """The lock file names the process holding it (what fault_kit waits for)."""
    with data_dir_lock(tmp_path):
        assert lock_taken_by(tmp_path, os.getpid())

"""Ctrl-C: a `weblog ingest` interrupted while DuckDB works stops the whole run ("Aborted!",
exit 1) instead of reporting the file as failed and going on with the next one; nothing
of it is kept and the same command then completes. (DuckDB cancels a query on SIGINT and
raises its own error, swallowing the KeyboardInterrupt: pipelines.errors records it.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from fault_kit import WEBLOG, env_for, leftovers

from pipelines.sample import generate_bench_log

RESTORE_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])")


def test_ctrl_c_during_an_ingest_stops_the_run_and_a_rerun_completes(tmp_path):
    big, small = tmp_path / "big.log", tmp_path / "small.log"
    generate_bench_log(big, 600_000, seed=3)
    generate_bench_log(small, 1_000, seed=4)
    data = tmp_path / "data"
    args = [WEBLOG, "--data-dir", str(data), "ingest", "--format", "combined",
            "--as-of", "2025-01-07", str(big), str(small)]
    # SIGINT's default restored first: a runner started in the background ignores it, and
    # an ignored signal stays ignored across exec
    proc = subprocess.Popen(
        [sys.executable, "-c", RESTORE_SIGINT, *args], cwd=tmp_path, env=env_for(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(60_000):  # until chunks are being parsed and written (bounded)
            staged = next(data.glob("raw/.staging/*/detail/date=*/*.parquet"), None)
            if staged or proc.poll() is not None:
                break
            time.sleep(0.001)
        assert proc.poll() is None, "the ingest ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert "Aborted!" in err and "failed" not in out + err and "Traceback" not in err
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from ingested_files").fetchone() == (0,)
        assert con.execute("select count(*) from requests").fetchone() == (0,)

    again = subprocess.run(args[:-2] + ["--json", str(big), str(small)], cwd=tmp_path,
                           env=env_for(tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), sum(lines_read), sum(lines_parsed + lines_rejected) "
                           "from ingested_files").fetchone() == (2, 601_000, 601_000)
    assert leftovers(data) == []


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_sigterm_while_the_temporary_prefect_server_starts_leaves_no_process(tmp_path):
    """SIGTERM (systemd, kill, a scheduler's timeout) stops a run like Ctrl-C: the
    temporary Prefect server the nightly run started is stopped too. Before, weblog died
    at once and the server lived on with its output pipe open (a caller waited forever)."""
    proc = subprocess.Popen(
        [WEBLOG, "--data-dir", str(tmp_path / "data"), "nightly", "--as-of", "2026-11-15"],
        cwd=tmp_path, env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    kids: list[int] = []
    try:
        for _ in range(600):  # until the server process is started (bounded: 60 s)
            kids = _children(proc.pid)
            if kids or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert kids and proc.poll() is None, "no server process was started"
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        survivors = []
        for _ in range(50):  # the server's stop waits for it up to 5 s
            survivors = [k for k in kids if _alive(k)]
            if not survivors:
                break
            time.sleep(0.2)
        for k in survivors:
            os.kill(k, signal.SIGKILL)
    assert survivors == []
    assert proc.returncode == 1 and "Aborted!" in err and "Traceback" not in err, err

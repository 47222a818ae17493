"""Ctrl-C: a `weblog ingest` interrupted while DuckDB works stops the whole run ("Aborted!",
exit 1) instead of reporting the file as failed and going on with the next one; nothing
of it is kept and the same command then completes. (DuckDB cancels a query on SIGINT and
raises its own error, swallowing the KeyboardInterrupt: pipelines.errors records it.)"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

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

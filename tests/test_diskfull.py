"""A disk that fills up while weblog writes: one clear sentence naming the file, a non-zero
exit, nothing half-written, and a rerun once there is space again completes the work.

Two real limits, no fake of our own code:
- a file-size limit (RLIMIT_FSIZE, as `ulimit -f` sets it) on the `weblog` subprocess:
  the kernel refuses writes past it with EFBIG, to DuckDB and to Python alike. It works
  for any user, so it runs everywhere;
- a small tmpfs holding the data directory, filled up with a ballast file: the kernel
  says ENOSPC. Mounting needs root (CAP_SYS_ADMIN); elsewhere those tests skip.
"""
from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from fault_kit import WEBLOG, contents, env_for, leftovers
from pipelines.aggregate import run_aggregate
from pipelines.config import Config, load_config
from pipelines.ingest import ingest_paths
from pipelines.verify import verify_retention
from site_fixture import demo_logs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)


def limited(max_bytes: int | None):
    """preexec_fn: files may not grow past max_bytes; SIGXFSZ ignored, so the write fails
    with EFBIG instead of killing the process."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if max_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, resource.RLIM_INFINITY))
    return apply


def weblog(cfg: Config, *args: str, max_bytes: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([WEBLOG, "--config", str(cfg.config_file), *args], cwd=REPO,
                          env=env_for(REPO), capture_output=True, text=True, timeout=300,
                          preexec_fn=limited(max_bytes))


def site(root: Path, data_dir: Path | None = None) -> Config:
    """Two days of logs, 6000 lines each; the older day ingested and aggregated (in this
    process: only the commands under test run as subprocesses)."""
    demo_logs(root / "logs", days=2, per_day=6000)
    (root / "weblog.toml").write_text(
        f'data_dir = "{data_dir or root / "data"}"\ntimezone = "Asia/Tokyo"\n', encoding="utf-8")
    cfg = load_config(root / "weblog.toml")
    ingest_paths(cfg, [str(root / "logs" / "access.log.1")], as_of=AS_OF)
    run_aggregate(cfg)
    return cfg


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """What the same work leaves on a disk with space."""
    root = tmp_path_factory.mktemp("diskfull-reference")
    cfg = site(root)
    ingest_paths(cfg, [str(root / "logs" / "access.log")], as_of=AS_OF)
    run_aggregate(cfg)
    return contents(cfg)


def assert_clean(cfg: Config, before: dict) -> None:
    """Nothing half-written: the warehouse and RAW as before, no staging or temp file."""
    assert contents(cfg) == before
    assert leftovers(cfg.data_dir) == []


# --------------------------------------------------------------------------- file-size limit

# The commit cannot be stopped by a file-size limit once the stage passed it: it moves the
# staged files (renames) and appends a few hundred bytes to the warehouse's log, less than
# any staged file. A disk that is full at the commit is the tiny_disk test's case.
@pytest.mark.parametrize("where, max_bytes, written", [
    ("staging", 32 << 10, "raw/.staging/"),       # the first staged Parquet file
])
def test_ingest_stopped_by_the_disk_keeps_nothing_and_a_rerun_completes(tmp_path, reference,
                                                                       where, max_bytes,
                                                                       written):
    cfg = site(tmp_path / "s")
    before = contents(cfg)
    log = tmp_path / "s" / "logs" / "access.log"
    run = weblog(cfg, "ingest", str(log), "--as-of", str(AS_OF), max_bytes=max_bytes)
    assert run.returncode == 1
    first, last = run.stderr.strip().splitlines()
    assert first.startswith(f"weblog: error: Ingest of {log} stopped: File too large writing "
                            f"{cfg.data_dir}/{written}")
    assert first.endswith("; nothing of it was kept.")
    assert last == "weblog: error: 1 of 1 file(s) failed and were not ingested: access.log."
    assert "Traceback" not in run.stderr
    assert_clean(cfg, before)

    again = weblog(cfg, "ingest", str(log), "--as-of", str(AS_OF))
    assert again.returncode == 0, again.stderr
    assert weblog(cfg, "aggregate").returncode == 0
    assert contents(cfg) == reference
    assert verify_retention(cfg, as_of=AS_OF).passed


@pytest.mark.parametrize("command", ["report", "export"])
def test_a_report_or_export_stopped_by_the_disk_leaves_no_file(tmp_path, command):
    cfg = site(tmp_path / "s")
    target = tmp_path / "out" / ("report.html" if command == "report" else "pages.csv")
    target.parent.mkdir()
    args = (["report", "-o", str(target)] if command == "report"
            else ["export", "daily_pages", "-o", str(target)])
    run = weblog(cfg, *args, max_bytes=4 << 10)
    assert run.returncode == 1
    assert run.stderr.startswith(f"weblog: error: File too large writing {target.parent}/.")
    assert run.stderr.endswith("; the command stopped: free some space and run it again.\n")
    assert list(target.parent.iterdir()) == []  # no half file, no temp file
    assert weblog(cfg, *args).returncode == 0 and target.stat().st_size > 4 << 10


# --------------------------------------------------------------------------- a full disk

@pytest.fixture
def tiny_disk(tmp_path):
    """A 24 MiB tmpfs, mounted for the test (root only)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN); the file-size "
                    "limit tests above cover the same paths")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the kernel refused a tmpfs mount here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(disk: Path, leave: int, name: str = "ballast") -> Path:
    """A ballast file taking all but `leave` bytes of the disk's free space."""
    ballast = disk / name
    free = shutil.disk_usage(disk).free
    with open(ballast, "wb") as f:
        f.truncate(0)
        chunk = b"\0" * (1 << 20)
        todo = free - leave
        while todo > 0:
            f.write(chunk[: min(len(chunk), todo)])
            todo -= len(chunk)
    return ballast


def test_a_full_disk_stops_ingest_aggregate_and_report_cleanly(tmp_path, tiny_disk, reference):
    cfg = site(tmp_path / "s", data_dir=tiny_disk / "data")
    log = tmp_path / "s" / "logs" / "access.log"
    before = contents(cfg)
    ballast = fill(tiny_disk, leave=48 << 10)

    run = weblog(cfg, "ingest", str(log), "--as-of", str(AS_OF))
    assert run.returncode == 1
    assert run.stderr.startswith(f"weblog: error: Ingest of {log} stopped: No space left on "
                                 f"device writing {cfg.data_dir}/")
    assert "Traceback" not in run.stderr
    assert_clean(cfg, before)

    recompute = weblog(cfg, "aggregate", "--from", "2026-11-01", "--to", "2026-11-30")
    assert recompute.returncode == 1
    # the day's transaction, or the snapshot for the dashboard after it: either is named
    (message,) = recompute.stderr.splitlines()
    assert message.startswith("weblog: error: ")
    assert f"No space left on device writing {cfg.data_dir}/" in message
    assert "Traceback" not in recompute.stderr
    assert_clean(cfg, before)

    more = fill(tiny_disk, leave=8 << 10, name="more")  # a report is smaller than a commit
    report = weblog(cfg, "report")
    assert report.returncode == 1
    assert report.stderr.startswith(f"weblog: error: No space left on device writing "
                                    f"{cfg.data_dir}/reports/.report-")
    assert list((cfg.data_dir / "reports").iterdir()) == []  # no half file, no temp file
    more.unlink()

    ballast.unlink()  # space again: the same commands complete
    assert weblog(cfg, "ingest", str(log), "--as-of", str(AS_OF)).returncode == 0
    assert weblog(cfg, "aggregate").returncode == 0
    assert weblog(cfg, "report").returncode == 0
    assert contents(cfg) == reference
    assert verify_retention(cfg, as_of=AS_OF).passed
    assert leftovers(cfg.data_dir) == []

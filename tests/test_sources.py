"""Growing and rotated files (pipelines.sources through pipelines.ingest): every rotation
style over several runs, on a real warehouse; the DETAIL rows must equal the complete lines
written, each once."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
from pathlib import Path

import pytest

from pipelines import sources, warehouse
from pipelines.config import Config
from pipelines.ingest import ingest_paths

AS_OF = dt.date(2026, 11, 15)


class Log:
    """A log file being written: numbered lines, each with a unique path /p/N."""

    def __init__(self, folder: Path, name: str = "access.log"):
        self.folder = folder
        self.path = folder / name
        self.n = 0
        self.written: list[int] = []  # numbers of complete lines written so far
        self.partial: str | None = None
        self.path.touch()

    def line(self, n: int) -> str:
        stamp = (dt.datetime(2026, 11, 14, 0, 0) + dt.timedelta(seconds=n)).strftime(
            "%d/%b/%Y:%H:%M:%S +0000")
        return (f'192.0.2.{n % 250 + 1} - - [{stamp}] "GET /p/{n} HTTP/1.1" 200 {n} "-" '
                f'"curl/8.5.0"\n')

    def write(self, count: int, partial: bool = False) -> None:
        with open(self.path, "a", encoding="ascii") as out:
            if self.partial is not None:  # finish the line left half-written
                out.write(self.partial)
                self.partial = None
            for _ in range(count):
                self.n += 1
                out.write(self.line(self.n))
                self.written.append(self.n)
            if partial:
                self.n += 1
                text = self.line(self.n)
                cut = len(text) // 2
                out.write(text[:cut])
                self.partial = text[cut:]
                self.written.append(self.n)  # counts once it is finished
        _tick(self.path)

    def complete(self) -> list[int]:
        return [n for n in self.written if n != self.n or self.partial is None]


_CLOCK = [1_794_000_000.0]


def _tick(path: Path) -> None:
    """Distinct, increasing mtimes, so oldest-first ordering is deterministic."""
    _CLOCK[0] += 10
    os.utime(path, (_CLOCK[0], _CLOCK[0]))


def run(cfg: Config, folder: Path) -> list:
    return ingest_paths(cfg, [str(folder / "access.log*")], as_of=AS_OF)


def detail_paths(cfg: Config) -> list[str]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return [p for (p,) in con.execute("SELECT path FROM requests").fetchall()]
    finally:
        con.close()


def check(cfg: Config, log: Log) -> None:
    got = sorted(int(p.rsplit("/", 1)[1]) for p in detail_paths(cfg))
    assert got == sorted(log.complete()), "DETAIL must hold every complete line exactly once"


def ledger(cfg: Config) -> list[tuple]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return con.execute("SELECT path, content_start, content_end, lines_read FROM "
                           "ingested_files ORDER BY file_id").fetchall()
    finally:
        con.close()


@pytest.fixture
def setup(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    return Config(data_dir=tmp_path / "data"), folder, Log(folder)


# --------------------------------------------------------------------------- growing

def test_a_growing_file_is_read_incrementally(setup):
    cfg, folder, log = setup
    log.write(5)
    (r1,) = run(cfg, folder)
    assert (r1.status, r1.lines_read, r1.content_start) == ("ingested", 5, 0)
    check(cfg, log)
    size = log.path.stat().st_size
    log.write(3)
    (r2,) = run(cfg, folder)
    assert (r2.status, r2.lines_read, r2.content_start) == ("ingested", 3, size)
    check(cfg, log)
    (r3,) = run(cfg, folder)  # nothing new
    assert r3.status == "already ingested" and r3.lines_read == 0
    check(cfg, log)
    pieces = ledger(cfg)
    assert [(p[1] == 0, p[3]) for p in pieces] == [(True, 5), (False, 3)]
    assert pieces[0][2] == pieces[1][1]  # the second piece starts where the first ended


def test_a_partial_last_line_waits_for_the_next_run(setup):
    cfg, folder, log = setup
    log.write(4, partial=True)
    (r1,) = run(cfg, folder)
    assert r1.lines_read == 4
    check(cfg, log)
    (r2,) = run(cfg, folder)  # still half-written: nothing to do
    assert r2.status == "already ingested" and r2.lines_read == 0
    log.write(2)  # finishes the partial line first
    (r3,) = run(cfg, folder)
    assert r3.lines_read == 3
    check(cfg, log)


def test_line_numbers_continue_across_pieces(setup):
    cfg, folder, log = setup
    for count in (3, 4, 2):
        log.write(count)
        run(cfg, folder)
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        rows = con.execute("SELECT path, line_no FROM requests").fetchall()
    finally:
        con.close()
    assert sorted(n for _, n in rows) == list(range(1, 10))
    assert all(int(p.rsplit("/", 1)[1]) == n for p, n in rows)  # line N is /p/N


def test_a_young_log_is_recognised_after_it_grew_past_the_head(setup):
    # the head of a first piece shorter than 4 KiB is compared on that many bytes only
    cfg, folder, log = setup
    log.write(2)
    run(cfg, folder)
    assert ledger(cfg)[0][2] < 4096
    log.write(60)  # now far beyond 4 KiB
    (r,) = run(cfg, folder)
    assert r.lines_read == 60 and r.content_start > 0
    check(cfg, log)


# --------------------------------------------------------------------------- rotation

def rotate_rename(folder: Path, log: Log, compress: bool, create: bool = True) -> None:
    """logrotate 'create' (+ compress/delaycompress): .1 -> .2(.gz), log -> .1, new log;
    without `create` the server makes the new log at its next write."""
    one, two = folder / "access.log.1", folder / "access.log.2.gz"
    if one.exists():
        data = one.read_bytes()
        if compress:
            two.write_bytes(gzip.compress(data))
            _tick(two)
            one.unlink()
        else:
            one.rename(folder / "access.log.2")
    log.path.rename(one)
    if create:
        log.path.touch()
        _tick(log.path)


def rotate_copytruncate(folder: Path, log: Log) -> None:
    one = folder / "access.log.1"
    if one.exists():
        one.rename(folder / "access.log.2")
    shutil.copyfile(log.path, one)
    _tick(one)
    with open(log.path, "r+b") as f:
        f.truncate(0)
    _tick(log.path)


@pytest.mark.parametrize("style", ["rename", "create", "create+compress", "copytruncate"])
def test_rotation_counts_every_line_once(setup, style):
    cfg, folder, log = setup
    for step in range(4):
        log.write(7, partial=(step == 1))  # one rotation happens with a half-written line
        run(cfg, folder)
        check(cfg, log)
        log.write(3)  # lines written after the run, before the rotation
        if style == "copytruncate":
            rotate_copytruncate(folder, log)
        else:
            rotate_rename(folder, log, compress=style.endswith("compress"),
                          create=style != "rename")
    results = run(cfg, folder)
    check(cfg, log)
    assert all(r.reconciles for r in results)
    again = run(cfg, folder)  # a run with nothing new changes nothing
    assert {r.status for r in again} <= {"already ingested", "no new lines"}
    check(cfg, log)


def test_rotated_file_read_in_one_go_after_missed_runs(setup):
    # rotation twice between runs: the unread tail of the first generation is in .2.gz now
    cfg, folder, log = setup
    log.write(5)
    run(cfg, folder)
    log.write(4)
    rotate_rename(folder, log, compress=True)
    log.write(6)
    rotate_rename(folder, log, compress=True)
    log.write(2)
    results = run(cfg, folder)
    check(cfg, log)
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["access.log.2.gz"].lines_read == 4  # only the tail after the first run
    assert by_name["access.log.2.gz"].content_start > 0
    assert by_name["access.log.1"].lines_read == 6
    assert by_name["access.log"].lines_read == 2


def test_copytruncate_reads_the_truncated_file_from_its_start(setup):
    cfg, folder, log = setup
    log.write(5)
    run(cfg, folder)
    inode = log.path.stat().st_ino
    log.write(2)
    rotate_copytruncate(folder, log)
    log.write(3)
    assert log.path.stat().st_ino == inode  # same file, new content
    results = {Path(r.path).name: r for r in run(cfg, folder)}
    assert results["access.log"].content_start == 0 and results["access.log"].lines_read == 3
    assert results["access.log.1"].lines_read == 2 and results["access.log.1"].content_start > 0
    check(cfg, log)


def test_a_shorter_copy_of_ingested_content_has_nothing_new(setup, tmp_path):
    cfg, folder, log = setup
    log.write(100)  # ~10 KB: the copy's first 4 KiB are the head to recognise
    run(cfg, folder)
    backup = tmp_path / "backup.log"
    text = log.path.read_text()
    backup.write_text(text[:len(text) // 2].rsplit("\n", 1)[0] + "\n")
    (r,) = ingest_paths(cfg, [str(backup)], as_of=AS_OF)
    assert r.status == "already ingested"
    check(cfg, log)


# --------------------------------------------------------------------------- plan

def test_plan_of_unknown_content_reads_everything(tmp_path):
    cfg = Config(data_dir=tmp_path / "data")
    log = tmp_path / "a.log"
    log.write_text("x\n")
    con = warehouse.connect(cfg.data_dir)
    try:
        assert sources.plan(con, log) == sources.Plan()
        gz = tmp_path / "a.log.gz"
        gz.write_bytes(gzip.compress(b"x\n"))
        assert sources.plan(con, gz).complete_only is False  # a compressed file is finished
        assert sources.plan(con, log, finished=True).complete_only is False  # stdin
        empty = tmp_path / "empty.log"
        empty.write_bytes(b"")
        assert sources.plan(con, empty) == sources.Plan()
    finally:
        con.close()


def test_empty_and_partial_only_files_have_no_new_lines(tmp_path):
    cfg = Config(data_dir=tmp_path / "data")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    partial = tmp_path / "partial.log"
    partial.write_bytes(b'192.0.2.1 - - [14/Nov/2026:00:00:00 +0000] "GET / HT')
    results = ingest_paths(cfg, [str(empty), str(partial)], format_name="combined", as_of=AS_OF)
    assert [r.status for r in results] == ["no new lines", "no new lines"]
    assert ledger(cfg) == []


# --------------------------------------------------------------------------- W3C

W3C_HEAD = ("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
            "#Date: 2026-11-14 00:00:00\n"
            "#Fields: date time c-ip cs-method cs-uri-stem sc-status time-taken\n")


def test_a_growing_w3c_file_keeps_its_header_across_runs(tmp_path):
    cfg = Config(data_dir=tmp_path / "data")
    path = tmp_path / "u_ex261114.log"
    path.write_text(W3C_HEAD)
    (r0,) = ingest_paths(cfg, [str(path)], as_of=AS_OF)
    assert r0.status == "ingested" and r0.format == "w3c" and r0.lines_parsed == 0
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:  # the ledger records the format detection chose
        assert con.execute("SELECT format FROM ingested_files").fetchall() == [("w3c",)]
    finally:
        con.close()
    with open(path, "a") as out:
        out.write("2026-11-14 00:00:01 192.0.2.1 GET /a 200 15\n")
    (r1,) = ingest_paths(cfg, [str(path)], as_of=AS_OF)
    assert (r1.format, r1.lines_read, r1.lines_parsed) == ("w3c", 1, 1)
    with open(path, "a") as out:  # a restart writes a new header block with other fields
        out.write("#Fields: date time cs-method cs-uri-stem c-ip sc-status\n"
                  "2026-11-14 00:00:02 GET /b 192.0.2.2 404\n")
    (r2,) = ingest_paths(cfg, [str(path)], as_of=AS_OF)
    assert (r2.lines_read, r2.lines_parsed) == (2, 1)
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        rows = con.execute("SELECT path, status, client_net, time_served_ms FROM requests "
                           "ORDER BY ts").fetchall()
    finally:
        con.close()
    assert rows == [("/a", 200, "192.0.2.0/24", 15.0), ("/b", 404, "192.0.2.0/24", None)]

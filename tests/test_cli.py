"""The `weblog` command line (pipelines.cli): help, ingest, status, demo, exit codes."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines import raw, warehouse
from pipelines.cli import cli
from pipelines.sample import demo_manifest

REPO = Path(__file__).resolve().parent.parent
WEBLOG = Path(sys.executable).parent / "weblog"
LOGS = Path(__file__).parent / "data" / "logs"
COMMANDS = ["ingest", "status", "demo", "formats", "detect", "config"]
AS_OF = "2026-11-15"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("WEBLOG_CONFIG", raising=False)
    monkeypatch.delenv("WEBLOG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def two_files(tmp_path: Path) -> list[str]:
    a = tmp_path / "combined.log"
    b = tmp_path / "edge_cases.log"
    shutil.copy(LOGS / "combined.log", a)
    shutil.copy(LOGS / "edge_cases.log", b)
    (tmp_path / "rejects.log").write_bytes((LOGS / "rejects.log").read_bytes())
    return [str(a), str(b), str(tmp_path / "rejects.log")]


# --------------------------------------------------------------------------- help

def test_top_level_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: weblog [OPTIONS] COMMAND [ARGS]...")
    for command in COMMANDS:
        assert re.search(rf"^  {command} ", result.output, re.M), command
    for option in ("--config PATH", "--data-dir DIR", "-v, --verbose", "-q, --quiet", "--version"):
        assert option in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: weblog {command}")
    assert len(result.output.splitlines()) > 3


def test_help_works_even_with_a_broken_config(tmp_path):
    (tmp_path / "weblog.toml").write_text("nonsense = \n")
    assert run("ingest", "--help").exit_code == 0


def test_time_dependent_commands_take_as_of():
    for command in ("ingest", "status", "demo"):
        assert "--as-of YYYY-MM-DD" in run(command, "--help").output, command


def test_console_script_help_and_version():
    proc = subprocess.run([str(WEBLOG), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Commands:" in proc.stdout
    proc = subprocess.run([str(WEBLOG), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and re.search(r"\d+\.\d+\.\d+", proc.stdout)


def test_formats_and_config_commands(tmp_path):
    out = run("formats").output
    for name in ("common", "combined", "vhost_combined", "combined_D", "combined_T", "apache:"):
        assert name in out
    cfg = json.loads(run("--data-dir", "d", "config", "--json").output)
    assert cfg["data_dir"] == str(tmp_path / "d")
    assert cfg["retention.raw_days"] == 7 and cfg["config_file"] is None


# --------------------------------------------------------------------------- ingest

def test_ingest_json(tmp_path):
    files = two_files(tmp_path)
    result = run("--data-dir", "data", "ingest", *files, "--format", "combined", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    got = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert set(got) == {"combined.log", "edge_cases.log", "rejects.log"}
    assert (got["combined.log"]["lines_read"], got["combined.log"]["lines_parsed"]) == (3, 3)
    assert (got["edge_cases.log"]["lines_read"], got["edge_cases.log"]["lines_parsed"]) == (16, 16)
    assert (got["rejects.log"]["lines_read"], got["rejects.log"]["lines_rejected"]) == (11, 11)
    assert sum(got["rejects.log"]["reject_reasons"].values()) == 11
    assert all(r["status"] == "ingested" for r in got.values())
    again = json.loads(run("--data-dir", "data", "ingest", *files, "--format", "combined", "--as-of", AS_OF,
                           "--json").stdout)
    assert [r["status"] for r in again] == ["already ingested"] * 3


def test_ingest_table_output(tmp_path):
    files = two_files(tmp_path)
    result = run("--data-dir", "data", "ingest", *files, "--format", "combined", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "combined.log" in out and "edge_cases.log" in out and "ingested" in out
    assert "Rejected lines (kept in raw/rejects/ with their reason):" in out
    assert "blank line" in out
    assert "\x1b[" not in out  # no colour codes when not on a terminal


def test_ingest_verbose_logs_one_line_per_file_and_no_progress_bar(tmp_path):
    files = two_files(tmp_path)
    result = run("--data-dir", "data", "-v", "ingest", *files, "--format", "combined", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0
    info = [ln for ln in result.stderr.splitlines() if ln.startswith("weblog: info: ")]
    assert len(info) == 3
    assert any("combined.log: ingested 3 lines (3 parsed, 0 rejected" in ln for ln in info)
    assert "━" not in result.stderr and "%" not in result.stderr  # no progress bar off a TTY
    quiet = run("--data-dir", "data2", "ingest", *files, "--format", "combined", "--as-of", AS_OF, "--json")
    assert quiet.stderr == ""


def test_ingest_stdin(tmp_path):
    data = (LOGS / "combined.log").read_bytes()
    result = run("--data-dir", "data", "ingest", "-", "--as-of", AS_OF, "--json", input=data)
    assert result.exit_code == 0, result.output
    (r,) = json.loads(result.stdout)
    assert r["path"] == "<stdin>" and r["lines_parsed"] == 3


def test_ingest_format_and_vhost_options(tmp_path):
    shutil.copy(LOGS / "common.log", tmp_path / "c.log")
    result = run("--data-dir", "data", "ingest", "c.log", "--format", "common", "--vhost",
                 "www.example.net", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["lines_parsed"] == 3
    con = warehouse.connect(tmp_path / "data", read_only=True)
    try:
        assert con.execute("SELECT DISTINCT vhost FROM requests").fetchall() == [("www.example.net",)]
    finally:
        con.close()


@pytest.mark.parametrize("args, message", [
    (["ingest", "missing.log"], "No such file: missing.log."),
    (["ingest", "x.log", "--format", "combind"], "Unknown log format 'combind'"),
    (["ingest", "x.log", "--format", "apache:%h %t %Z"], "'%Z' is not supported"),
    (["ingest"], "Give PATH arguments or configure [[sources]]."),
    (["ingest", "x.log", "--as-of", "15.11.2026"], "'15.11.2026' is not a date like 2026-11-15."),
    (["status", "--as-of", "tomorrow"], "is not a date"),
    # date arithmetic at the ends of the calendar overflowed (a traceback)
    (["status", "--as-of", "0001-01-01"], "0001-01-01 is outside 1970-01-01 .. 9899-12-31."),
    (["ingest", "x.log", "--as-of", "9999-12-31"], "9999-12-31 is outside"),
    (["purge", "--dry-run", "--as-of", "1969-12-31"], "1969-12-31 is outside"),
    (["demo", "--days", "0"], "0 is not in the range 1<=x<=366"),
    (["detect", "."], ". is a folder; give a log file."),
    (["audit", "report", "-o", "."], ". is a folder; give the name of a file to write."),
    (["audit", "report", "-o", "no/such/x.md"], "No such folder: no/such."),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    (tmp_path / "x.log").write_text((LOGS / "combined.log").read_text())
    result = run("--data-dir", "data", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def test_unreadable_compressed_file_exits_1(tmp_path):
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00junk")
    result = run("--data-dir", "data", "ingest", "broken.gz", "--as-of", AS_OF)
    assert result.exit_code == 1
    assert result.stderr.startswith("weblog: error: Cannot read ")
    # the file's reason, then the run's verdict: one line each, no traceback
    assert result.stderr.strip().splitlines()[1] == (
        "weblog: error: 1 of 1 file(s) failed and were not ingested: broken.gz.")
    assert len(result.stderr.strip().splitlines()) == 2


def test_ingest_sources_from_config(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(LOGS / "vhost_combined.log", logs / "a.log")
    shutil.copy(LOGS / "combined.log", logs / "b.log")
    (tmp_path / "weblog.toml").write_text(
        '[[sources]]\npath = "logs/a.log"\nformat = "vhost_combined"\n'
        '[[sources]]\npath = "logs/b.log"\nvhost = "blog.example.org"\n'
        '[[sources]]\npath = "logs/none-yet-*.log"\n')
    result = run("ingest", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    assert [r["lines_parsed"] for r in json.loads(result.stdout)] == [2, 3]
    assert "matches no file yet" in result.stderr
    con = warehouse.connect(tmp_path / "data", read_only=True)
    try:
        vhosts = con.execute("SELECT vhost, count(*) FROM requests GROUP BY ALL ORDER BY 1").fetchall()
    finally:
        con.close()
    assert vhosts == [("blog.example.org", 3), ("static.example.net", 1), ("www.example.com", 1)]


# --------------------------------------------------------------------------- status

def test_status_counts_match_the_warehouse(tmp_path):
    files = two_files(tmp_path)
    assert run("--data-dir", "data", "ingest", *files, "--format", "combined", "--as-of", AS_OF).exit_code == 0
    info = json.loads(run("--data-dir", "data", "status", "--json", "--as-of", AS_OF).stdout)
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        rows, days = con.execute("SELECT count(*), count(DISTINCT day) FROM requests").fetchall()[0]
        read, parsed, rejected = con.execute(
            "SELECT sum(lines_read), sum(lines_parsed), sum(lines_rejected) FROM ingested_files"
        ).fetchall()[0]
    finally:
        con.close()
    assert info["detail"]["rows"] == rows == parsed == 19
    assert info["detail"]["days"] == days
    led = info["ingest_ledger"]
    assert (led["files"], led["lines_read"], led["lines_parsed"], led["lines_rejected"]) == (
        3, read, parsed, rejected)
    assert info["rejects"]["rows"] == rejected == 11
    assert info["raw"]["rows"] == parsed - led["lines_too_old"]
    assert info["as_of"] == AS_OF and info["raw_window_start"] == "2026-11-08"
    assert {"ingested_files", "requests", "schema_migrations"} <= set(info["tables"])
    text = run("--data-dir", "data", "status", "--as-of", AS_OF)
    assert text.exit_code == 0
    assert "Ingest ledger: 3 file(s), 30 lines read = 19 parsed + 11 rejected" in text.output


def test_status_without_data(tmp_path):
    result = run("--data-dir", "nothing", "status", "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "No warehouse yet" in result.output
    assert not (tmp_path / "nothing").exists()  # status writes nothing


# --------------------------------------------------------------------------- demo

@pytest.mark.slow
def test_demo_with_the_example_config(tmp_path, prefect_cli_env):
    shutil.copy(REPO / "weblog.example.toml", tmp_path / "weblog.toml")
    result = run("demo", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    data = tmp_path / "data"
    samples = sorted(p.name for p in (data / "sample").iterdir())
    assert len(samples) == 14
    assert sum(name.endswith(".gz") for name in samples) == 12
    assert sorted(raw.raw_days(data)) == [dt.date(2026, 11, d) for d in range(8, 15)]
    assert list(raw.reject_days(data)) == [dt.date(2026, 11, 15)]
    manifest = demo_manifest(dt.date(2026, 11, 14))
    expected_lines = sum(m["lines"] for m in manifest)
    expected_rejects = sum(m["malformed"] for m in manifest)
    info = json.loads(run("status", "--json", "--as-of", AS_OF).stdout)
    led = info["ingest_ledger"]
    assert led["files"] == 14
    assert led["lines_read"] == expected_lines
    assert led["lines_rejected"] == expected_rejects == info["rejects"]["rows"] > 0
    assert info["detail"]["rows"] == led["lines_parsed"] == expected_lines - expected_rejects
    assert info["detail"]["vhosts"] == ["www.example.com"]  # the [[sources]] vhost applied
    assert (info["detail"]["first_day"], info["detail"]["last_day"]) == ("2026-11-01", "2026-11-14")
    assert info["raw"]["rows"] == led["lines_parsed"] - led["lines_too_old"]
    assert "Next: `weblog status`" in result.output
    con = warehouse.connect(data, read_only=True)
    try:
        countries = con.execute("SELECT count(*) FROM requests WHERE country IS NOT NULL").fetchall()
        v6 = con.execute("SELECT avg((ip_version = 6)::INT) FROM requests").fetchall()[0][0]
    finally:
        con.close()
    assert countries[0][0] > 0  # the synthetic GeoIP files were used
    assert 0.01 < v6 < 0.2
    # a second demo run finds everything already ingested
    again = run("demo", "--as-of", AS_OF)
    assert again.exit_code == 0
    assert again.output.count("already ingested") == 14


def test_demo_without_sources_ingests_the_files_directly(tmp_path, prefect_cli_env):
    result = run("--data-dir", "d", "demo", "--as-of", AS_OF, "--days", "3")
    assert result.exit_code == 0, result.output
    info = json.loads(run("--data-dir", "d", "status", "--json", "--as-of", AS_OF).stdout)
    assert info["ingest_ledger"]["files"] == 3
    assert info["detail"]["vhosts"] == ["default"]
    assert "uses Asia/Tokyo like the sample logs" in result.output


@pytest.mark.parametrize("content, why", [
    (b"\x1f\x8b\x08\x00junk", "it ends early (a truncated compressed file?)"),
    (None, "its compressed data is damaged (zlib.error)"),
])
def test_detect_names_a_damaged_compressed_file_in_one_sentence(tmp_path, content, why):
    import gzip

    if content is None:  # a gzip stream with its deflate data overwritten
        data = bytearray(gzip.compress((LOGS / "combined.log").read_bytes()))
        data[30:40] = b"\xff" * 10
        content = bytes(data)
    (tmp_path / "bad.gz").write_bytes(content)
    result = run("detect", "bad.gz")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"weblog: error: Cannot read bad.gz: {why}.\n"


def test_a_path_that_cannot_be_written_is_one_sentence_not_a_traceback(tmp_path):
    """An OS error no step handles (here: a folder where the data directory's lock file
    belongs) stops the command with its reason and path, exit 2."""
    (tmp_path / "data" / ".weblog.lock").mkdir(parents=True)
    (tmp_path / "x.log").write_text((LOGS / "combined.log").read_text())
    result = run("--data-dir", "data", "ingest", "x.log", "--as-of", AS_OF)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("weblog: error: Is a directory: ")
    assert ".weblog.lock" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_written_audit_report_leaves_no_temporary_file(tmp_path):
    files = two_files(tmp_path)
    assert run("--data-dir", "data", "ingest", files[0], "--as-of", AS_OF).exit_code == 0
    result = run("--data-dir", "data", "audit", "report", "-o", "record.md", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "# " in (tmp_path / "record.md").read_text()
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_memory_limit_is_bounded_by_default_and_a_bad_one_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.delenv("WEBLOG_MEMORY_LIMIT", raising=False)
    default = warehouse.memory_limit()
    assert default.endswith("MB") and 0 < int(default[:-2]) <= 1280
    monkeypatch.setenv("WEBLOG_MEMORY_LIMIT", "2GB")
    assert warehouse.memory_limit() == "2GB"
    with duckdb.connect() as con, duckdb.connect() as plain:  # DuckDB takes what we accept
        warehouse.configure(con, None)
        plain.execute("set memory_limit = '2GB'")
        setting = "select current_setting('memory_limit')"
        assert con.execute(setting).fetchone() == plain.execute(setting).fetchone()
    files = two_files(tmp_path)
    assert run("--data-dir", str(tmp_path / "data"), "ingest", files[0]).exit_code == 0
    for bad in ("lots", "1GB'; select 1; --"):
        monkeypatch.setenv("WEBLOG_MEMORY_LIMIT", bad)
        result = run("--data-dir", str(tmp_path / "data"), "status")
        assert result.exit_code == 2, result.output
        assert "WEBLOG_MEMORY_LIMIT must be a size like 2GB" in result.output
        assert "Traceback" not in result.output
    # below 64MB DuckDB failed mid-transaction and could not roll back
    for small in ("1MB", "63MB", "1KB"):
        monkeypatch.setenv("WEBLOG_MEMORY_LIMIT", small)
        result = run("--data-dir", str(tmp_path / "data"), "ingest", files[1])
        assert result.exit_code == 2, result.output
        assert f"WEBLOG_MEMORY_LIMIT must be at least 64MB, not {small}." in result.output
    monkeypatch.setenv("WEBLOG_MEMORY_LIMIT", "64MB")
    assert warehouse.memory_limit() == "64MB"

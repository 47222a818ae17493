"""pipelines.subjects: a data subject's records found in every form the log may hold the
address in, and erased from RAW, rejects and the linked DETAIL rows, with statistics
recomputed and a ledger entry that holds no address; a killed erasure is finished."""
from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines import ledger, leaks, lines, raw, warehouse
from pipelines.aggregate import run_aggregate
from pipelines.cli import cli
from pipelines.config import Config, to_toml
from pipelines.ingest import ingest_paths
from pipelines.purge import purge_expired
from pipelines.subjects import erase_subject, find_subject, mentions, parse_subject
from pipelines.verify import verify_retention

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)
XFF = ('apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" '
       '"%{X-Forwarded-For}i"')
SUBJECT = "2001:db8:5:6::17"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
UA2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def _line(client: str, day: int, second: int, path: str, xff: str = "-", ua: str = UA) -> str:
    return (f'{client} - - [{day:02d}/Nov/2026:10:{second // 60:02d}:{second % 60:02d} +0900] '
            f'"GET {path} HTTP/1.1" 200 100 "-" "{ua}" "{xff}"\n')


def _log() -> str:
    out = []
    for day in (12, 13):
        for i in range(30):  # other visitors
            out.append(_line(f"198.51.100.{i + 1}", day, i, f"/p/{i}", ua=UA if i % 2 else UA2))
        out.append(_line("2001:DB8:5:6::17", day, 40, "/by/the/subject"))
        out.append(_line("2001:db8:5:6:0:0:0:17", day, 41, "/esc/\\x1b[31mred"))  # expanded
        out.append(_line("203.0.113.9", day, 42, "/via/proxy", xff=f"[{SUBJECT}]:443, 10.0.0.1"))
        out.append(_line("visitor-4.example.net", day, 43, "/by/name"))
    out.append(f"garbage mentioning {SUBJECT} and nothing else\n")  # a rejects line
    out.append("more garbage 198.51.100.3\n")
    return "".join(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("subjects")
    cfg = Config(data_dir=root / "data", timezone="Asia/Tokyo", k_min=1)
    (root / "access.log").write_text(_log())
    ingest_paths(cfg, [str(root / "access.log")], format_name=XFF, as_of=AS_OF,
                 vhost="www.example.com")
    run_aggregate(cfg)
    text = to_toml(cfg).replace(f'data_dir = "{cfg.data_dir}"', 'data_dir = "data"')
    assert 'data_dir = "data"' in text
    (root / "weblog.toml").write_text(text)  # relative: a copy of the folder is a copy of the site
    return root


@pytest.fixture
def cfg(built, tmp_path) -> Config:
    import shutil

    from pipelines.config import load_config

    shutil.copytree(built, tmp_path / "s", ignore=shutil.ignore_patterns(".weblog.lock"))
    return load_config(tmp_path / "s" / "weblog.toml")


def _q(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _raw_rows(cfg: Config, where: str = "true") -> int:
    files = sorted((cfg.data_dir / "raw").glob("date=*/*.parquet"))
    listing = ", ".join(f"'{f}'" for f in files)
    return duckdb.sql(f"select count(*) from read_parquet([{listing}], union_by_name = true) "
                      f"where {where}").fetchall()[0][0]


# --------------------------------------------------------------------------- find

def test_subject_is_normalised_like_the_ingest(cfg):
    assert parse_subject("[2001:DB8:5:6:0::17]:443", cfg).value == SUBJECT
    assert parse_subject("::ffff:192.0.2.1", cfg).value == "192.0.2.1"
    assert parse_subject("Visitor-4.Example.NET.", cfg).value == "visitor-4.example.net"
    assert parse_subject(SUBJECT, cfg).network == "2001:db8:5::/48"
    out = CliRunner().invoke(cli, ["--config", str(cfg.config_file), "subject", "find", "-"])
    assert out.exit_code == 2 and "neither an IP address nor a host name" in out.output


def test_mentions_matches_literals_and_whole_names():
    s = parse_subject(SUBJECT, Config())
    assert mentions(f"x [{SUBJECT.upper()}]:80 y", s) and not mentions("2001:db8:5:6::170", s)
    h = parse_subject("visitor-4.example.net", Config())
    assert mentions("from www.VISITOR-4.example.net", h) and not mentions("xvisitor-4.example.net", h)


def test_find_lists_every_record_in_every_spelling(cfg):
    found = find_subject(cfg, "[2001:DB8:5:6:0:0:0:17]:443", as_of=AS_OF)
    assert len(found.records) == 6  # per day: plain, expanded, inside forwarded-for
    assert {r["client"] for r in found.records} == {"2001:DB8:5:6::17", "2001:db8:5:6:0:0:0:17",
                                                    "203.0.113.9"}
    assert [r["day"] for r in found.records] == ["2026-11-12"] * 3 + ["2026-11-13"] * 3
    assert found.records[0]["time"] == "2026-11-12T10:00:40+09:00"
    assert all(r["in_window"] for r in found.records)
    assert (found.rejects_lines, found.rejects_files) == (1, 1)
    assert found.detail_rows_linked == 6 and found.network == "2001:db8:5::/48"
    assert found.prefect_mentions == 0


def test_find_cli_prints_requests_safely(cfg):
    out = CliRunner().invoke(cli, ["--config", str(cfg.config_file), "subject", "find", SUBJECT,
                                   "--as-of", "2026-11-15"])
    assert out.exit_code == 0, out.output
    assert "\x1b" not in out.output and "\\x1b[31mred" in out.output
    assert "6 RAW record(s) in 2 file(s)" in out.output
    assert "DETAIL and statistics hold only its network 2001:db8:5::/48" in out.output
    assert "RAW rejects: 1 unparsed line(s)" in out.output
    doc = json.loads(CliRunner().invoke(cli, ["--config", str(cfg.config_file), "subject",
                                              "find", "visitor-4.example.net", "--json"]).output)
    assert doc["kind"] == "host name" and len(doc["records"]) == 2
    assert doc["network"] == "example.net"


# --------------------------------------------------------------------------- erase

def test_erase_removes_the_subject_everywhere_and_records_no_address(cfg):
    raw_before = _raw_rows(cfg)
    detail_before = _q(cfg, "select count(*) from requests")[0][0]
    visitors_before = dict(_q(cfg, "select day, visitors from daily_traffic"))

    result = erase_subject(cfg, SUBJECT)

    assert (result.raw_records, result.rejects_lines, result.detail_rows) == (6, 1, 6)
    assert result.days == ["2026-11-12", "2026-11-13"] and result.rewrite
    assert _raw_rows(cfg) == raw_before - 6
    assert _q(cfg, "select count(*) from requests")[0][0] == detail_before - 6
    again = find_subject(cfg, SUBJECT, as_of=AS_OF)
    assert again.records == [] and again.rejects_lines == 0 and again.detail_rows_linked == 0
    rejects = next((cfg.data_dir / "raw" / "rejects").rglob("*.parquet"))
    assert duckdb.sql(f"select line from read_parquet('{rejects}')").fetchall() == [
        ("more garbage 198.51.100.3",)]
    # statistics recomputed, still exact: visitors = distinct (client, agent) left in RAW
    for day in (dt.date(2026, 11, 12), dt.date(2026, 11, 13)):
        (visitors, exact, hits) = _q(cfg, "select visitors, visitors_exact, hits from "
                                          "daily_traffic where day = ?", [day])[0]
        left = _raw_rows(cfg, f"day = '{day}'")
        distinct = duckdb.sql(
            "select count(distinct (coalesce(client_address, client_hostname, client), "
            "user_agent)) from read_parquet('" + str(cfg.data_dir) + "/raw/date=" + str(day)
            + "/*.parquet')").fetchall()[0][0]
        assert exact and hits == left and visitors == distinct < visitors_before[day]
    # the ledger entry: counts and file hashes, no address, no network
    con = warehouse.connect(cfg.data_dir, read_only=True)
    entries = ledger.read_table(con)
    con.close()
    [erasure] = [e for e in entries if e.action == "erase_subject"]
    assert entries[-1].action == "rewrite_warehouse"
    text = erasure.line() + ledger.mirror_path(cfg.data_dir).read_text()
    for spelling in (SUBJECT, "2001:DB8:5:6", "2001:db8:5:6:0:0:0:17", "2001:db8:5:"):
        assert spelling.lower() not in text.lower()
    assert leaks.Scanner(24, 48).scan(text) == set()
    files = {f["name"]: f for f in erasure.details["files"]}
    assert set(files) == {str(p.relative_to(cfg.data_dir / "raw")) for p in
                          (cfg.data_dir / "raw").rglob("*.parquet")}
    for name, f in files.items():
        assert lines.file_sha256(cfg.data_dir / "raw" / name) == f["sha256_after"]
        assert f["sha256_before"] != f["sha256_after"]
    assert erasure.details["raw_records"] == 6 and erasure.details["detail_rows"] == 6
    assert all(p.stat().st_mode & 0o077 == 0 for p in (cfg.data_dir / "raw").rglob("*"))
    assert verify_retention(cfg, as_of=AS_OF).passed


def test_erase_of_an_unknown_address_changes_nothing(cfg):
    result = erase_subject(cfg, "192.0.2.123")
    assert result.entry is None and result.rewrite is None
    assert not ledger.mirror_path(cfg.data_dir).exists() or \
        ledger.mirror_path(cfg.data_dir).read_text() == ""


def test_erase_cli_asks_first(cfg):
    base = ["--config", str(cfg.config_file), "subject", "erase", SUBJECT]
    out = CliRunner().invoke(cli, base, input="n\n")
    assert out.exit_code == 1 and "6 RAW record(s), 1 rejects line(s)" in out.output
    assert find_subject(cfg, SUBJECT).records
    out = CliRunner().invoke(cli, base, input="y\n")
    assert out.exit_code == 0, out.output
    assert "Erased 6 RAW record(s), 1 rejects line(s) and 6 linked DETAIL row(s)" in out.output
    assert SUBJECT not in out.output.split("Erase them?")[1]
    assert not find_subject(cfg, SUBJECT).records


CHILD = """
import os, signal, sys
from pipelines import ledger
from pipelines.config import load_config
from pipelines.subjects import erase_subject
kill_at, n = sys.argv[1], 0
real = {"replace": os.replace, "append": ledger.append}
def replace(*a, **k):
    global n
    real["replace"](*a, **k); n += 1
    if kill_at == "replace" and n == 2:  # manifest written, first original replaced
        os.kill(os.getpid(), signal.SIGKILL)
def append(*a, **k):
    out = real["append"](*a, **k)
    if kill_at == "append":  # DETAIL rows deleted and entry inserted, not committed
        os.kill(os.getpid(), signal.SIGKILL)
    return out
os.replace, ledger.append = replace, append
erase_subject(load_config(sys.argv[2]), sys.argv[3])
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["replace", "append"])
def test_a_killed_erasure_is_finished_by_the_next_purge(cfg, kill_at):
    run = subprocess.run([sys.executable, "-c", CHILD, kill_at, str(cfg.config_file), SUBJECT],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert list((raw.raw_root(cfg.data_dir) / ".purging").iterdir())

    result = purge_expired(cfg, as_of=AS_OF)

    assert [r["action"] for r in result.recovered] == ["erase_subject"]
    con = warehouse.connect(cfg.data_dir, read_only=True)
    entries = ledger.read_table(con)
    con.close()
    [erasure] = [e for e in entries if e.action == "erase_subject"]
    assert erasure.result == "erased after interruption" and erasure.details["detail_rows"] == 6
    found = find_subject(cfg, SUBJECT, as_of=AS_OF)
    assert found.records == [] and found.rejects_lines == 0 and found.detail_rows_linked == 0
    assert _q(cfg, "select bool_and(visitors_exact) from stats_days") == [(True,)]
    assert verify_retention(cfg, as_of=AS_OF).passed

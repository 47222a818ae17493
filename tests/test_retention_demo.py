"""End to end, as the issue asks: after `weblog demo` (the nightly flow, run by Prefect)
and a purge as of a day past the RAW window, `weblog audit verify` passes; a full address
planted anywhere outside RAW (a warehouse text cell, a file under reports/, a row in
Prefect's SQLite database) makes it fail, naming where.

Prefect's database here is a copy of the test server's, which the demo's flow runs wrote
to; verify finds it through PREFECT_API_DATABASE_CONNECTION_URL, as it would find a
server's database kept outside PREFECT_HOME.
"""
from __future__ import annotations

import json
import shutil
import sqlite3

import duckdb
import pytest
from click.testing import CliRunner

from pipelines.cli import cli

PLANTED = "203.0.113.57"


@pytest.fixture
def demo(tmp_path, prefect_cli_env, monkeypatch):
    data = tmp_path / "data"
    out = CliRunner().invoke(cli, ["--data-dir", str(data), "demo", "--as-of", "2026-11-15",
                                   "--days", "10"])
    assert out.exit_code == 0, out.output
    assert "Purge      done" in out.output and "Verify     passed" in out.output
    prefect_db = tmp_path / "prefect-server.db"
    shutil.copy(prefect_cli_env.database, prefect_db)
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{prefect_db}")
    return data, prefect_db


def _weblog(data, *args):
    return CliRunner().invoke(cli, ["--data-dir", str(data), *args])


def _verify(data):
    out = _weblog(data, "audit", "verify", "--as-of", "2026-11-30", "--json")
    doc = json.loads(out.output)
    assert out.exit_code == (0 if doc["passed"] else 1)
    return doc


def _leaks(doc) -> list[str]:
    return next(c for c in doc["checks"] if c["name"] == "leaks")["evidence"]


@pytest.mark.slow
def test_demo_then_purge_verifies_and_plants_are_found(demo):
    data, prefect_db = demo
    assert _verify(data)["checks"][1]["passed"] is False  # RAW past the window before the purge
    purged = _weblog(data, "purge", "--as-of", "2026-11-30")
    assert purged.exit_code == 0, purged.output
    assert "RAW: removed 7 day partition(s)" in purged.output

    doc = _verify(data)
    assert doc["verdict"] == "PASS", doc
    assert doc["ledger_entries"] == 2 and doc["checks"][2]["counts"]["source_logs"] == 10

    # 1. a warehouse text cell
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    (path,) = con.execute("select path from daily_pages limit 1").fetchall()[0]
    con.execute("update daily_pages set path = ? where path = ?", [f"/x/{PLANTED}", path])
    con.close()
    assert _leaks(_verify(data)) == ["warehouse.duckdb: daily_pages.path: address 203.0.113.0/24"]
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    con.execute("update daily_pages set path = ? where path = ?", [path, f"/x/{PLANTED}"])
    con.close()
    assert _verify(data)["passed"]

    # 2. a file under reports/
    (data / "reports").mkdir(exist_ok=True)
    (data / "reports" / "2026-11-29.html").write_text(f"<p>top client {PLANTED}</p>")
    assert _leaks(_verify(data)) == ["reports/2026-11-29.html: address 203.0.113.0/24"]
    (data / "reports" / "2026-11-29.html").unlink()
    assert _verify(data)["passed"]

    # 3. a row in Prefect's SQLite database
    con = sqlite3.connect(prefect_db)
    n = con.execute("select count(*) from log").fetchone()[0]
    assert n > 0  # the demo's runs logged there
    con.execute("update log set message = message || ? where rowid = (select max(rowid) from log)",
                [f" client={PLANTED}"])
    con.commit()
    con.close()
    evidence = _leaks(_verify(data))
    assert any(e.startswith("Prefect home: prefect-server.db:log.message row ") and
               e.endswith(": address 203.0.113.0/24") for e in evidence), evidence
    assert all(e.startswith("Prefect home: ") and PLANTED not in e for e in evidence)

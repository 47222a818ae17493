"""pipelines.verify: each check passes on a clean site and fails, with masked evidence that
names where, on each kind of problem planted into it. Ledger tampering: test_ledger.py;
the whole demo through Prefect: test_retention_demo.py."""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import pickle
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines import detail, ledger, leaks, raw, warehouse
from pipelines.cli import cli
from pipelines.config import Config
from pipelines.verify import prefect_databases, read_latest, verify_retention
from retention_site import AS_OF, retention_site, site  # noqa: F401


def _checks(cfg: Config, as_of: dt.date = AS_OF, **kw) -> dict:
    verdict = verify_retention(cfg, as_of=as_of, **kw)
    checks = {c.name: c for c in verdict.checks}
    assert verdict.passed == all(c.passed for c in checks.values())
    return checks


def _raw_value(cfg: Config, column: str) -> str:
    files = sorted((cfg.data_dir / "raw").glob("date=*/*.parquet"))
    listing = ", ".join(f"'{f}'" for f in files)
    (value,) = duckdb.sql(f"select {column} from read_parquet([{listing}]) where {column} "
                          f"is not null and {column} like '%.%.%' order by 1 limit 1"
                          ).fetchall()[0]
    return value


def _assert_hidden(value: str, cfg: Config, checks: dict) -> None:
    """The planted value appears nowhere in the verdict, nor in verify-latest.json."""
    for c in checks.values():
        assert all(value not in e for e in c.evidence), c.evidence
    assert value not in (cfg.data_dir / "audit" / "verify-latest.json").read_text()


def test_a_clean_site_passes_and_the_verdict_is_kept(site):
    checks = _checks(site)
    assert all(c.passed for c in checks.values()), {n: c.evidence for n, c in checks.items()}
    assert checks["leaks"].counts["needle_addresses"] > 50
    assert checks["leaks"].counts["needle_hostnames"] > 0
    assert checks["permissions"].counts["checked"] > 10
    latest = read_latest(site.data_dir)
    assert latest["verdict"] == "PASS" and latest["as_of"] == AS_OF.isoformat()
    assert [c["name"] for c in latest["checks"]] == ["ledger", "retention", "leaks",
                                                     "permissions"]
    # the verdict file is scanned on the next run like any other: nothing personal in it
    assert leaks.scan_file(Path(site.data_dir / "audit" / "verify-latest.json"),
                           leaks.Scanner(24, 48), "x") == []


# --------------------------------------------------------------------------- retention

def test_partitions_past_the_window_fail(site):
    checks = _checks(site, as_of=dt.date(2026, 11, 24))  # RAW cutoff 11-17, DETAIL 11-14
    evidence = checks["retention"].evidence
    assert not checks["retention"].passed
    assert sum("RAW partition of" in e for e in evidence) == 7
    assert any(e.startswith("raw/rejects/date=2026-11-15: rejects partition") for e in evidence)
    assert any("DETAIL rows before the DETAIL cutoff 2026-11-14" in e for e in evidence)


def test_data_left_by_interrupted_runs_and_unmanaged_files_fail(site):
    (raw.raw_root(site.data_dir) / ".purging" / "x").mkdir(parents=True, mode=0o700)
    (raw.raw_root(site.data_dir) / ".purging" / "x" / "manifest.json").write_text("{}")
    (raw.raw_root(site.data_dir) / "notes.csv").write_text("n\n")
    (raw.raw_root(site.data_dir) / "date=2026-11-12" / "stray.json").write_text("{}")
    evidence = _checks(site)["retention"].evidence
    assert any(e.startswith("raw/.purging: 1 files left by an interrupted purge") for e in evidence)
    assert "raw/notes.csv: not a RAW day partition, never purged" in evidence
    assert "raw/date=2026-11-12/stray.json: not a RAW Parquet file" in evidence


def test_raw_like_parquet_outside_raw_fails_twice(site):
    source = next((site.data_dir / "raw" / "date=2026-11-12").glob("*.parquet"))
    (site.data_dir / "exports").mkdir()
    shutil.copy(source, site.data_dir / "exports" / "dump.parquet")
    checks = _checks(site)
    assert "exports/dump.parquet: a Parquet file with RAW columns outside raw/ (never purged)" \
        in checks["retention"].evidence
    assert any(e.startswith("exports/dump.parquet: column client_address: address")
               for e in checks["leaks"].evidence)


def test_deleted_rows_waiting_for_the_rewrite_fail(site):
    con = warehouse.connect(site.data_dir)
    try:
        with warehouse.transaction(con):
            day = dt.date(2026, 11, 5)  # its DETAIL purged, as purge does it
            detail.unregister(con, detail.listed(con, day))
            detail.refresh_view(con, site.data_dir)
            ledger.append(con, site, action="purge_detail", result="removed",
                          cutoff=dt.date(2026, 11, 6), details={"rows": 1, "count": 1})
        detail.sweep(con, site.data_dir)
        ledger.sync_mirror(con, site.data_dir)
    finally:
        con.close()
    evidence = _checks(site)["retention"].evidence
    assert evidence == ["warehouse.duckdb: rows deleted by ledger entry 1 may remain in the "
                        "file's bytes until it is rewritten (run `weblog purge`)"]


# --------------------------------------------------------------------------- leaks

def test_an_address_in_a_warehouse_cell_fails(site):
    con = warehouse.connect(site.data_dir)
    con.execute("update daily_pages set path = '/from/203.0.113.57/x' where hits = "
                "(select max(hits) from daily_pages)")
    con.close()
    checks = _checks(site)
    assert checks["leaks"].evidence == ["warehouse.duckdb: daily_pages.path: address "
                                        "203.0.113.0/24"]
    _assert_hidden("203.0.113.57", site, checks)


def test_a_client_host_name_in_a_report_fails(site):
    host = _raw_value(site, "client_hostname")
    (site.data_dir / "reports").mkdir()
    (site.data_dir / "reports" / "day.html").write_text(f"<td>{host.upper()}</td>")
    checks = _checks(site)
    [evidence] = checks["leaks"].evidence
    assert evidence.startswith("reports/day.html: host name ") and "***." in evidence
    _assert_hidden(host, site, checks)


@pytest.mark.parametrize("kind", ["csv.gz", "duckdb", "sqlite", "prefect-db", "prefect-storage"])
def test_addresses_in_any_file_outside_raw_fail(site, kind):
    address = _raw_value(site, "client_address")
    data = site.data_dir
    if kind == "csv.gz":
        (data / "exports").mkdir()
        (data / "exports" / "t.csv.gz").write_bytes(gzip.compress(f"a,{address}\n".encode()))
        where = "exports/t.csv.gz"
    elif kind == "duckdb":
        (data / "published").mkdir(exist_ok=True)  # aggregate publishes a snapshot there
        con = duckdb.connect(str(data / "published" / "snap.duckdb"))
        con.execute("create table pages (path varchar)")
        con.execute("insert into pages values (?)", [f"/x?c={address}"])
        con.close()
        where = "published/snap.duckdb: pages.path"
    elif kind == "sqlite":
        con = sqlite3.connect(data / "cache.db")
        con.execute("create table t (v text)")
        con.execute("insert into t values (?)", [address])
        con.commit()
        con.close()
        where = "cache.db:t.v row 0"
    elif kind == "prefect-db":
        (data / "prefect").mkdir()
        con = sqlite3.connect(data / "prefect" / "prefect.db")
        con.execute("create table log (message text)")
        con.execute("insert into log values ('started'), (?)", [f"client {address}"])
        con.commit()
        con.close()
        where = "Prefect home: prefect.db:log.message row 1"
    else:
        (data / "prefect" / "storage").mkdir(parents=True)
        blob = base64.b64encode(pickle.dumps({"client": address})).decode()
        (data / "prefect" / "storage" / "r1").write_text(json.dumps({"result": blob}))
        where = "Prefect home: "
    checks = _checks(site)
    assert not checks["leaks"].passed
    assert any(e.startswith(where) for e in checks["leaks"].evidence), checks["leaks"].evidence
    _assert_hidden(address, site, checks)


def test_loopback_and_networks_in_prefect_home_pass(site):
    (site.data_dir / "prefect").mkdir()
    (site.data_dir / "prefect" / "profiles.toml").write_text(
        'PREFECT_API_URL = "http://127.0.0.1:4200/api"\nnet = "203.0.113.0/24"\n')
    assert _checks(site)["leaks"].passed


def test_source_logs_inside_the_data_folder_are_not_scanned(site, tmp_path):
    data = site.data_dir
    (data / "sample").mkdir()
    log = site.config_file.parent / "logs" / "access.log.1"
    shutil.copy(log, data / "sample" / "access.log.1")  # bytes in the ingest ledger
    checks = _checks(site)
    assert checks["leaks"].passed and checks["leaks"].counts["source_logs"] == 1
    (data / "sample" / "access.log.1").write_text(log.read_text() + "extra\n")  # not anymore
    assert not _checks(site)["leaks"].passed


def test_prefect_database_outside_its_home_from_the_environment(tmp_path):
    db = tmp_path / "p.db"
    db.write_bytes(b"")
    env = {"PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db}"}
    assert prefect_databases(env) == [db]
    assert prefect_databases({"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql://x/y"}) == []


# --------------------------------------------------------------------------- permissions

def test_raw_readable_by_others_fails(site):
    f = next((site.data_dir / "raw" / "date=2026-11-12").glob("*.parquet"))
    f.chmod(0o644)
    (site.data_dir / "raw" / "date=2026-11-13").chmod(0o755)
    evidence = _checks(site)["permissions"].evidence
    assert sorted(evidence) == sorted([
        f"raw/date=2026-11-12/{f.name}: mode 0644 (group or others have access)",
        "raw/date=2026-11-13: mode 0755 (group or others have access)"])


# --------------------------------------------------------------------------- CLI

def test_cli_verify_pass_and_fail(site):
    args = ["--config", str(site.config_file), "audit", "verify", "--as-of", "2026-11-15"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert out.output.startswith("weblog audit verify as of 2026-11-15: PASS")
    out = CliRunner().invoke(cli, [*args[:-1], "2026-11-30", "--json"])
    assert out.exit_code == 1
    doc = json.loads(out.output)
    assert doc["verdict"] == "FAIL" and not doc["checks"][1]["passed"]

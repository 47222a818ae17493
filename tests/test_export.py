"""pipelines.export and `weblog export`: statistics tables only, formula-safe CSV,
faithful Parquet/JSON, atomic writes."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os

import duckdb
import pytest
from click.testing import CliRunner

import stats_fixture as sf
from pipelines import export, raw, warehouse
from pipelines.aggregate import STATS_TABLES
from pipelines.cli import cli

D1, D2, D3 = sf.DAYS


def run(cfg, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "export", *args],
                              env={"WEBLOG_CONFIG": None}, catch_exceptions=False)


def table(cfg, name: str) -> list[dict]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return sf.table_rows(con, name)
    finally:
        con.close()


def test_csv_escapes_formula_cells(stats_warehouse, tmp_path):
    cfg, _ = stats_warehouse
    out = tmp_path / "pages.csv"
    result = run(cfg, "daily_pages", "-o", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths = {r["path"] for r in rows}
    for formula in sf.FORMULA_PATHS:
        assert formula not in paths and "'" + formula in paths
    assert "/about/" in paths  # ordinary values untouched
    assert all(r["hits"].isdigit() for r in rows)
    assert len(rows) == len(table(cfg, "daily_pages"))


@pytest.mark.parametrize("value, written", [
    ("=HYPERLINK(\"http://x.example.com\")", "'=HYPERLINK(\"http://x.example.com\")"),
    ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("a=1", "a=1"), ("'quoted", "'quoted"), ("", ""),
])
def test_csv_escape_rule(stats_copy, tmp_path, value, written):
    cfg, _ = stats_copy
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        con.execute("delete from daily_referrers")
        con.execute("insert into daily_referrers values (?, 'v', ?, 'external', -1, 0, 1)",
                    [D1, value])
    finally:
        con.close()
    out = tmp_path / "r.csv"
    assert run(cfg, "daily_referrers", "-o", str(out)).exit_code == 0
    with open(out, newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["referrer_domain"] == written
    assert row["hits"] == "-1"  # numbers are never escaped


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_parquet_and_json_hold_the_table(stats_warehouse, tmp_path, fmt):
    cfg, _ = stats_warehouse
    out = tmp_path / f"countries.{fmt}"
    result = run(cfg, "daily_countries", "--from", D2.isoformat(), "--to", D3.isoformat(),
                 "-o", str(out))
    assert result.exit_code == 0 and "row(s) of daily_countries" in result.output
    expected = [r for r in table(cfg, "daily_countries") if D2 <= r["day"] <= D3]
    con = duckdb.connect()
    reader = "read_parquet" if fmt == "parquet" else "read_json"
    got = sf.table_rows(con, f"{reader}('{out}')")
    if fmt == "json":
        assert isinstance(json.loads(out.read_text()), list)
        for r in got:
            r["day"] = dt.date.fromisoformat(r["day"]) if isinstance(r["day"], str) else r["day"]
    columns = list(expected[0])
    assert sf.sort_rows(got, columns) == sf.sort_rows(expected, columns)


@pytest.mark.parametrize("name", ["requests", "ingested_files", "schema_migrations",
                                  "daily_pages; drop table requests", "DAILY_PAGES"])
def test_only_statistics_tables(stats_warehouse, tmp_path, name):
    cfg, _ = stats_warehouse
    out = tmp_path / "x.csv"
    result = run(cfg, name, "-o", str(out))
    assert result.exit_code == 2 and "Only statistics tables" in result.output
    assert not out.exists()


def test_every_statistics_table_exports(stats_warehouse, tmp_path):
    cfg, _ = stats_warehouse
    for name in STATS_TABLES:
        out = tmp_path / f"{name}.parquet"
        assert run(cfg, name, "-o", str(out)).exit_code == 0, name
        assert out.stat().st_size > 0


def test_format_from_suffix_or_flag(stats_warehouse, tmp_path):
    cfg, _ = stats_warehouse
    bad = run(cfg, "daily_status", "-o", str(tmp_path / "x.txt"))
    assert bad.exit_code == 2 and "--format" in bad.output
    ok = run(cfg, "daily_status", "--format", "json", "-o", str(tmp_path / "x.txt"))
    assert ok.exit_code == 0 and json.loads((tmp_path / "x.txt").read_text())
    missing = run(cfg, "daily_status", "-o", str(tmp_path / "no" / "such" / "x.csv"))
    assert missing.exit_code == 2 and "No such folder" in missing.output


def test_write_is_atomic(stats_warehouse, tmp_path, monkeypatch):
    cfg, _ = stats_warehouse
    out = tmp_path / "traffic.csv"
    out.write_text("previous export\n")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)  # the OS, not our code, fails
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        with pytest.raises(OSError):
            export.export_table(con, "daily_traffic", out, "csv")
    finally:
        con.close()
    monkeypatch.undo()
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traffic.csv"]
    assert run(cfg, "daily_traffic", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("day,vhost,hits,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traffic.csv"]


def test_date_range(stats_warehouse, tmp_path):
    cfg, _ = stats_warehouse
    out = tmp_path / "t.json"
    assert run(cfg, "daily_traffic", "--from", D2.isoformat(), "--to", D2.isoformat(),
               "-o", str(out)).exit_code == 0
    assert {r["day"] for r in json.loads(out.read_text())} == {D2.isoformat()}

"""pipelines.nightly_report: the nightly run's Markdown receipt (no Prefect here)."""
from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.nightly_report import NOT_AVAILABLE, headline_stats, md, render_markdown


def _summary(**over):
    base = {
        "as_of": "2026-11-15", "timezone": "Asia/Tokyo", "stats_day": "2026-11-14",
        "status": "completed", "problems": [], "stats": None,
        "ingest": [
            {"path": "/logs/access.log.2.gz", "status": "ingested", "lines_read": 1200,
             "lines_parsed": 1198, "lines_rejected": 2, "lines_too_old": 0,
             "days": ["2026-11-13"]},
            {"path": "/logs/access.log.1", "status": "ingested", "lines_read": 900,
             "lines_parsed": 900, "lines_rejected": 0, "lines_too_old": 0,
             "days": ["2026-11-13", "2026-11-14"]},
            {"path": "/logs/copy.gz", "status": "already ingested",
             "duplicate_of": "/logs/access.log.2.gz"},
        ],
        "aggregate": {"status": NOT_AVAILABLE}, "purge": {"status": NOT_AVAILABLE},
        "verify": {"status": NOT_AVAILABLE},
    }
    return {**base, **over}


def test_reconciliation_table_and_totals():
    page = render_markdown(_summary())
    assert "| access.log.2.gz | ingested | 1,200 | 1,198 | 2 | 0 | 2026-11-13 |" in page
    assert "| access.log.1 | ingested | 900 | 900 | 0 | 0 | 2026-11-13 .. 2026-11-14 (2) |" in page
    assert "already ingested (as access.log.2.gz)" in page
    assert "| **total** | 3 files | 2,100 | 2,098 | 2 | 0 | |" in page
    assert page.count(f"_{NOT_AVAILABLE}") == 4  # statistics, aggregate, purge, verify


def test_failures_are_listed():
    page = render_markdown(_summary(status="failed", problems=["verify: checks failed"],
                                    verify={"status": "failed", "passed": False,
                                            "checks": [{"check": "raw", "ok": False}]}))
    assert "Result: **FAILED**" in page and "- verify: checks failed" in page
    section = page.split("## Verify", 1)[1]
    assert "Status: **failed**" in section and "| check | ok |" in section


def test_hostile_file_names_stay_inert():
    name = "/logs/<img src=x onerror=alert(1)>|x*y_`z`.log"
    page = render_markdown(_summary(ingest=[{"path": name, "status": "ingested", "days": []}]))
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    row = next(line for line in page.splitlines() if "alert" in line)
    assert row.count(" | ") == 6  # the pipe in the name did not add a column
    assert md("a|b*c") == "a\\|b\\*c"


def test_headline_stats_before_and_after_the_statistics_tier():
    con = duckdb.connect()
    day = dt.date(2026, 11, 14)
    assert headline_stats(con, day) is None
    con.execute("CREATE TABLE daily_traffic (day DATE, vhost VARCHAR, hits BIGINT)")
    con.execute("INSERT INTO daily_traffic VALUES (?, 'www.example.com', 42), "
                "(?, 'www.example.com', 7)", [day, day - dt.timedelta(days=1)])
    rows = headline_stats(con, day)
    assert rows == [{"day": day, "vhost": "www.example.com", "hits": 42}]
    page = render_markdown(_summary(stats=[{"day": "2026-11-14", "vhost": "www.example.com",
                                            "hits": 42}]))
    assert "|  | www.example.com |" in page and "| hits | 42 |" in page


def test_purge_receipt_and_verdict_sections():
    purge = {"status": "done", "as_of": "2026-11-16", "raw_cutoff": "2026-11-09",
             "detail_cutoff": "2026-08-18", "raw": [{"name": "date=2026-11-08", "files": 2,
                                                     "rows": 300}],
             "rejects": [], "detail": {"rows": 12, "days": 1, "first_day": "2026-08-17",
                                       "last_day": "2026-08-17"},
             "rewrite": {"bytes_before": 4096, "bytes_after": 2048},
             "sources_enabled": False, "sources": [],
             "aggregated": ["2026-11-08"], "kept": [{"what": "day", "name": "2026-11-07",
                                                     "reason": "statistics failed"}],
             "entries": [{"sequence": 7, "action": "purge_raw", "result": "removed",
                          "cutoff": "2026-11-09", "hash": "ab" * 32}], "problems": []}
    verify = {"status": "failed", "verdict": "FAIL", "passed": False, "as_of": "2026-11-16",
              "ledger_entries": 7, "ledger_head": "cd" * 32,
              "checks": [{"name": "leaks", "title": "No full address outside RAW",
                          "passed": False, "summary": "found", "evidence_total": 1,
                          "evidence": ["reports/x.html: address 203.0.113.0/24"]}]}
    page = render_markdown(_summary(purge=purge, verify=verify))
    receipt = page.split("## Purge receipt", 1)[1].split("\n## ", 1)[0]
    assert "| RAW day partitions | 2 | 300 | date=2026-11-08 |" not in receipt
    assert "| RAW day partitions | 1 | 300 | date=2026-11-08 |" in receipt
    assert f"| 7 | purge\\_raw | removed | 2026-11-09 | `{'ab' * 32}` |" in receipt
    assert "- kept day 2026-11-07: statistics failed" in receipt
    assert "| DETAIL days | 1 | 12 | 2026-08-17 |" in receipt
    assert "Warehouse rewritten into a fresh file: 4,096 → 2,048 bytes" in receipt
    assert "Statistics computed first for: 2026-11-08" in receipt
    section = page.split("## Verify", 1)[1]
    assert f"Verdict: **FAIL** as of 2026-11-16 · ledger 7 entries, head `{'cd' * 32}`" in section
    assert "| No full address outside RAW | FAIL | found |" in section
    assert "- reports/x.html: address 203.0.113.0/24" in section

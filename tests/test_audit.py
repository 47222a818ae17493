"""pipelines.audit: the deletion record (Markdown and JSON) an auditor keeps."""
from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from pipelines import ledger, warehouse
from pipelines.audit import build_report, removed_text, render_markdown
from pipelines.cli import cli
from pipelines.purge import purge_expired
from retention_site import retention_site, site  # noqa: F401


def _entries(cfg) -> list[ledger.Entry]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return ledger.read_table(con)
    finally:
        con.close()


def test_report_holds_policy_deletions_chain_head_and_verdict(site):
    purge_expired(site, as_of=dt.date(2026, 11, 16))
    purge_expired(site, as_of=dt.date(2026, 11, 24))
    entries = _entries(site)
    report = build_report(site, as_of=dt.date(2026, 11, 24))
    page = render_markdown(report)

    assert report["policy"]["raw_days"] == 7 and report["policy"]["policy_hash"] == \
        site.policy_hash()
    assert [e["sequence"] for e in report["entries"]] == [e.sequence for e in entries]
    assert report["chain"] == {"entries": len(entries), "head": entries[-1].hash,
                               "head_sequence": entries[-1].sequence}
    assert report["verify"]["verdict"] == "PASS"
    assert "| RAW days kept (full addresses, URLs, user agents, rejects) | 7 |" in page
    for e in entries:
        assert f"`{e.hash}`" in page and e.recorded_at in page
    assert f"head (entry {entries[-1].sequence}): `{entries[-1].hash}`" in page
    assert "1 day partition(s) date=2026-11-08: 1 files" in page
    assert "| 2026-11-09 |" in page  # the cutoff of the first RAW purge
    assert "weblog audit verify --as-of 2026-11-24`: **PASS**" in page
    assert "--anchor" in page


def test_report_period_and_cli_outputs(site, tmp_path):
    purge_expired(site, as_of=dt.date(2026, 11, 16))
    today = dt.datetime.now(dt.UTC).date()
    assert build_report(site, end=today - dt.timedelta(days=1))["entries"] == []
    assert len(build_report(site, start=today)["entries"]) == 3
    base = ["--config", str(site.config_file), "audit", "report", "--as-of", "2026-11-16"]
    out = CliRunner().invoke(cli, [*base, "-o", str(tmp_path / "record.md")])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "record.md").read_text()
    assert text.startswith("# weblog deletion record") and "purge\\_detail" in text
    doc = json.loads(CliRunner().invoke(cli, [*base, "--json"]).output)
    assert doc["verify"]["verdict"] == "PASS" and len(doc["entries"]) == 3
    bad = CliRunner().invoke(cli, [*base, "--from", "2026-11-20", "--to", "2026-11-01"])
    assert bad.exit_code == 2 and "is after" in bad.output


def test_a_failed_verification_shows_in_the_report_with_its_evidence(site):
    page = render_markdown(build_report(site, as_of=dt.date(2026, 11, 30)))
    assert "**FAIL**" in page and "Evidence for *retention*" in page
    assert "- raw/date=2026-11-08: RAW partition of 2026-11-08, before the cutoff 2026-11-23" \
        in page


def test_removed_text_for_every_action():
    def e(action, details):
        return ledger.make_entry(1, ledger.GENESIS, action=action, result="removed",
                                 cutoff=None, policy={}, details=details, who="a@b",
                                 now=dt.datetime(2026, 1, 1))
    assert removed_text(e("purge_source", {"files": [{"path": "/l/access.log.3.gz"}],
                                           "bytes": 2048})) == \
        "1 source log file(s) (access.log.3.gz), 2.0 KB"
    assert removed_text(e("purge_detail", {"rows": 1200, "count": 2, "first_day": "2026-01-01",
                                           "last_day": "2026-01-02"})) == \
        "1,200 DETAIL rows of 2 day(s) 2026-01-01 .. 2026-01-02"
    assert removed_text(e("erase_subject", {"raw_records": 3, "rejects_lines": 1,
                                            "detail_rows": 3, "count": 2, "days": ["x"]})) == \
        ("3 RAW records, 1 rejects lines, 3 linked DETAIL rows in 2 file(s); statistics "
         "recomputed for 1 day(s)")
    assert "→" in removed_text(e("rewrite_warehouse", {"bytes_before": 10, "bytes_after": 5,
                                                       "after_sequence": 4}))

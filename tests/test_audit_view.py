"""pipelines.audit_view: the RAW window from the policy and folder names, and the latest
verify verdict read from audit/verify-latest.json (the seam with the retention code)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import stats_fixture as sf
from pipelines import audit_view, raw


def test_raw_window_and_what_raw_holds(stats_warehouse):
    cfg, _ = stats_warehouse
    w = audit_view.raw_window(cfg, sf.AS_OF)
    assert w["window_start"] == sf.AS_OF - dt.timedelta(days=sf.RAW_DAYS)
    # ingested as of AS_OF with raw_days=2: RAW holds the days from 2026-03-02 on
    assert (w["oldest"], w["newest"], w["days"]) == (sf.DAYS[1], sf.DAYS[2], 2)
    assert w["overdue"] == [] and w["readable"]
    later = audit_view.raw_window(cfg, sf.AS_OF + dt.timedelta(days=1))
    assert later["overdue"] == [sf.DAYS[1]]  # due for the purge one day later


def test_raw_window_without_raw_folder(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    w = audit_view.raw_window(cfg, sf.AS_OF)
    assert (w["days"], w["oldest"], w["overdue"]) == (0, None, [])


def test_unreadable_raw_folder_is_reported_not_raised(tmp_path, monkeypatch):
    """raw/ is 0700: a dashboard running as another user cannot list it. (The tests run as
    root, whom permissions do not stop, so the operating system's refusal is faked.)"""
    cfg = sf.fixture_config(tmp_path, {})
    raw.prepare(cfg.data_dir)
    root = raw.raw_root(cfg.data_dir)
    real = Path.iterdir

    def iterdir(self):
        if self == root:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert audit_view.raw_window(cfg, sf.AS_OF)["readable"] is False


def write(cfg, doc) -> None:
    path = cfg.data_dir / audit_view.VERIFY_LATEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize("doc, verdict", [
    ({"verdict": "PASS"}, "PASS"),
    ({"result": "fail"}, "FAIL"),
    ({"passed": True}, "PASS"),
    ({"ok": False}, "FAIL"),
    ({"something": 1}, "UNKNOWN"),
    ("[1, 2]", "UNREADABLE"),
    ("{not json", "UNREADABLE"),
])
def test_verdict_forms(tmp_path, doc, verdict):
    cfg = sf.fixture_config(tmp_path, {})
    assert audit_view.latest_verify(cfg) is None
    write(cfg, doc)
    assert audit_view.latest_verify(cfg)["verdict"] == verdict


def test_checks_are_listed_with_addresses_masked(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    write(cfg, {"verdict": "FAIL", "checked_at": "2026-03-04T02:30:00Z", "checks": [
        {"name": "ledger chain", "passed": True},
        {"name": "no address outside RAW", "passed": False,
         "detail": "192.0.2.77 in reports/x.html and 2001:db8:1:2::9 in exports/y.csv"},
        "odd entry"]})
    out = audit_view.latest_verify(cfg)
    assert out["checked_at"] == "2026-03-04T02:30:00Z"
    assert [(c["name"], c["result"]) for c in out["checks"]] == [
        ("ledger chain", "PASS"), ("no address outside RAW", "FAIL"), ("check 3", "UNKNOWN")]
    detail = out["checks"][1]["detail"]
    assert "192.0.2.77" not in detail and "2001:db8:1:2::9" not in detail
    assert "192.0.2.0" in detail and "2001:db8:1::" in detail
    write(cfg, {"status": "PASS", "checks": {"permissions": "PASS", "window": False}})
    assert [(c["name"], c["result"]) for c in audit_view.latest_verify(cfg)["checks"]] == [
        ("permissions", "PASS"), ("window", "FAIL")]

"""What the dashboard's audit page shows: retention windows, the latest verify verdict,
the purge and ingest ledgers.

Seams with the retention code (built separately), read when present:
- the purge ledger is the warehouse table `purge_ledger`; `weblog publish` copies it into
  the snapshot as it is, and the page shows its columns as they come, newest first;
- the latest verification is the JSON file DATA_DIR/audit/verify-latest.json. Its verdict
  is read from `verdict`/`result`/`status` ("PASS"/"FAIL") or a boolean `passed`/`ok`;
  its time from `checked_at`/`verified_at`/`time`; its checks from `checks` (a list of
  objects with `name` and `passed`/`ok`/`result`, or an object of name -> result). Free
  text from it is shown with address literals masked, since failure evidence may quote
  what it found.

The RAW window is computed here from the policy and today's date in the site time zone
(pipelines.retention), and the RAW days present are read from the folder names under
raw/ (names only: the page never opens a RAW file).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from . import raw, retention
from .anonymize import mask_addresses
from .config import Config

VERIFY_LATEST = Path("audit") / "verify-latest.json"
MAX_VERIFY_BYTES = 1 << 20


def raw_window(cfg: Config, as_of: dt.date | None = None) -> dict[str, Any]:
    """The RAW window and what raw/ holds now (day partitions, by folder name)."""
    as_of = retention.resolve_as_of(as_of, cfg.timezone)
    start = retention.raw_window_start(as_of, cfg.raw_days)
    out: dict[str, Any] = {"as_of": as_of, "raw_days": cfg.raw_days, "window_start": start,
                           "detail_window_start": retention.window_start(as_of, cfg.detail_days),
                           "readable": True}
    try:
        days = sorted(raw.raw_days(cfg.data_dir))
        rejects = sorted(raw.reject_days(cfg.data_dir))
    except OSError:  # raw/ is owner-only: the dashboard may run as another user
        out.update(readable=False, days=0, oldest=None, newest=None, overdue=[],
                   reject_days=0, oldest_reject=None)
        return out
    out.update(days=len(days), oldest=days[0] if days else None,
               newest=days[-1] if days else None,
               overdue=[d for d in sorted(set(days) | set(rejects)) if d < start],
               reject_days=len(rejects), oldest_reject=rejects[0] if rejects else None)
    return out


def _safe(value: Any, cfg: Config) -> str:
    return mask_addresses(str(value), cfg.ipv4_prefix, cfg.ipv6_prefix)


def _verdict(doc: dict[str, Any]) -> str:
    for key in ("verdict", "result", "status"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip().upper() in ("PASS", "FAIL"):
            return value.strip().upper()
    for key in ("passed", "ok"):
        if isinstance(doc.get(key), bool):
            return "PASS" if doc[key] else "FAIL"
    return "UNKNOWN"


def _check_result(value: Any) -> str:
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    if isinstance(value, dict):
        return _verdict(value)
    if isinstance(value, str) and value.strip().upper() in ("PASS", "FAIL"):
        return value.strip().upper()
    return "UNKNOWN"


def latest_verify(cfg: Config) -> dict[str, Any] | None:
    """The latest verify verdict from DATA_DIR/audit/verify-latest.json, or None."""
    path = Path(cfg.data_dir) / VERIFY_LATEST
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_VERIFY_BYTES:
            raise ValueError("too large")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        return {"verdict": "UNREADABLE", "checked_at": None, "checks": [], "file": str(path)}
    checks: list[dict[str, str]] = []
    raw_checks = doc.get("checks")
    if isinstance(raw_checks, list):
        for i, item in enumerate(raw_checks):
            if isinstance(item, dict):
                name = item.get("name") or item.get("check") or f"check {i + 1}"
                result = _check_result(item)
                detail = item.get("detail") or item.get("message") or item.get("evidence") or ""
            else:
                name, result, detail = f"check {i + 1}", _check_result(item), ""
            checks.append({"name": _safe(name, cfg), "result": result,
                           "detail": _safe(detail, cfg) if detail else ""})
    elif isinstance(raw_checks, dict):
        for name, value in raw_checks.items():
            checks.append({"name": _safe(name, cfg), "result": _check_result(value),
                           "detail": ""})
    when = next((doc[k] for k in ("checked_at", "verified_at", "time", "as_of") if doc.get(k)),
                None)
    return {"verdict": _verdict(doc), "checked_at": _safe(when, cfg) if when else None,
            "checks": checks, "file": str(path)}

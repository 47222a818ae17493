"""`weblog audit report`: the deletion record an auditor keeps.

One Markdown page (or JSON) built from the ledger and a fresh verification: the policy in
force, every purge, erasure and warehouse rewrite in the period with its time, cutoff,
what it removed (partition and file names, counts) and its entry hash, the chain head
hash with how to use it as an anchor, and the verdict of `weblog audit verify` with its
evidence. The period filters on the UTC date an entry was recorded. Nothing in it is
personal: the ledger holds none, and verification evidence is masked.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from . import ledger, warehouse
from .config import Config
from .errors import InputError
from .nightly_report import md
from .verify import Verdict, verify_retention


def size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(n)  # pragma: no cover


def _span(names: list[str]) -> str:
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"


def removed_text(entry: ledger.Entry) -> str:
    """One line saying what an entry removed (names and counts)."""
    d = entry.details
    if entry.action in ("purge_raw", "purge_rejects"):
        names = [p["name"] for p in d.get("partitions", [])]
        return (f"{len(names)} day partition(s) {_span(names)}: {d.get('files', 0):,} files, "
                f"{d.get('rows', 0):,} rows, {size(d.get('bytes'))}")
    if entry.action == "purge_detail":
        return (f"{d.get('rows', 0):,} DETAIL rows of {d.get('count', 0)} day(s) "
                f"{d.get('first_day')} .. {d.get('last_day')}")
    if entry.action == "purge_source":
        names = [Path(f["path"]).name for f in d.get("files", [])]
        return f"{len(names)} source log file(s) ({', '.join(names)}), {size(d.get('bytes'))}"
    if entry.action == "erase_subject":
        return (f"{d.get('raw_records', 0):,} RAW records, {d.get('rejects_lines', 0):,} "
                f"rejects lines, {d.get('detail_rows', 0):,} linked DETAIL rows in "
                f"{d.get('count', 0)} file(s); statistics recomputed for "
                f"{len(d.get('days', []))} day(s)")
    if entry.action == "rewrite_warehouse":
        return (f"warehouse rewritten after entry {d.get('after_sequence')}: "
                f"{size(d.get('bytes_before'))} → {size(d.get('bytes_after'))}")
    return entry.action


def build_report(cfg: Config, *, start: dt.date | None = None, end: dt.date | None = None,
                 as_of: dt.date | str | None = None, verdict: Verdict | None = None,
                 anchor: str | None = None) -> dict[str, Any]:
    """The report as plain values; runs `verify_retention` unless a verdict is given."""
    if start and end and start > end:
        raise InputError(f"--from {start} is after --to {end}.")
    verdict = verdict or verify_retention(cfg, as_of=as_of, anchor=anchor)
    entries: list[ledger.Entry] = []
    if warehouse.warehouse_path(cfg.data_dir).exists():
        con = warehouse.connect(cfg.data_dir, read_only=True)
        try:
            entries = ledger.read_table(con)
        finally:
            con.close()
    chosen = [e for e in entries
              if (start is None or e.recorded_at[:10] >= start.isoformat())
              and (end is None or e.recorded_at[:10] <= end.isoformat())]
    return {
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": {"from": start.isoformat() if start else None,
                   "to": end.isoformat() if end else None},
        "policy": ledger.policy_of(cfg),
        "entries": [{**e.to_dict(), "removed": removed_text(e)} for e in chosen],
        "chain": {"entries": len(entries), "head": entries[-1].hash if entries else ledger.GENESIS,
                  "head_sequence": entries[-1].sequence if entries else 0},
        "verify": verdict.to_dict(),
    }


def render_markdown(report: dict[str, Any]) -> str:
    policy = report["policy"]
    period = report["period"]
    span = (f"{period['from'] or 'the first entry'} to {period['to'] or 'now'} (UTC dates)"
            if period["from"] or period["to"] else "all entries")
    verdict = report["verify"]
    out = ["# weblog deletion record", "",
           f"Generated {md(report['generated_at'])} · period: {md(span)} · verification as of "
           f"{md(verdict['as_of'])}: **{md(verdict['verdict'])}**", "",
           "## Policy in force", "",
           "| setting | value |", "|---|---|"]
    labels = {"raw_days": "RAW days kept (full addresses, URLs, user agents, rejects)",
              "detail_days": "DETAIL days kept (truncated networks)",
              "ipv4_prefix": "IPv4 prefix kept outside RAW", "ipv6_prefix": "IPv6 prefix kept "
              "outside RAW", "k_min": "minimum visitors per published client cell",
              "query_keep": "query parameters kept", "timezone": "site time zone",
              "purge_source_logs": "source logs deleted after ingest",
              "policy_hash": "policy hash (SHA-256)"}
    for key, label in labels.items():
        value = policy.get(key)
        out.append(f"| {md(label)} | {md(', '.join(value) if isinstance(value, list) else value)} |")
    out += ["", "## Deletions", ""]
    if report["entries"]:
        out += ["| # | recorded (UTC) | action | result | cutoff | removed | operator | entry hash |",
                "|---|---|---|---|---|---|---|---|"]
        for e in report["entries"]:
            out.append(f"| {e['sequence']} | {md(e['recorded_at'])} | {md(e['action'])} | "
                       f"{md(e['result'])} | {md(e['cutoff'] or '')} | {md(e['removed'])} | "
                       f"{md(e['operator'])} | `{e['hash']}` |")
    else:
        out.append("_No deletion recorded in this period._")
    chain = report["chain"]
    out += ["", "## Ledger chain", "",
            f"{chain['entries']} entries in all; head (entry {chain['head_sequence']}): "
            f"`{chain['head']}`", "",
            "Keep this hash. Later, `weblog audit verify --anchor <hash>` fails if any entry up "
            "to it was changed or removed since this report.", "",
            "## Verification", "",
            f"`weblog audit verify --as-of {md(verdict['as_of'])}`: **{md(verdict['verdict'])}** "
            f"(RAW cutoff {md(verdict['raw_cutoff'])}, DETAIL cutoff "
            f"{md(verdict['detail_cutoff'])}, checked {md(verdict['checked_at'])})", "",
            "| check | result | summary |", "|---|---|---|"]
    for c in verdict["checks"]:
        out.append(f"| {md(c['title'])} | {'PASS' if c['passed'] else '**FAIL**'} | "
                   f"{md(c['summary'])} |")
    for c in verdict["checks"]:
        if c["evidence"]:
            out += ["", f"Evidence for *{md(c['name'])}* ({c['evidence_total']} in all):", ""]
            out += [f"- {md(e)}" for e in c["evidence"]]
    return "\n".join(out) + "\n"

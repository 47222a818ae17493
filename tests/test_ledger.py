"""pipelines.ledger: the hash chain, the JSONL mirror, crash repair, and tamper detection.

Tampering is done the way someone with file access would: SQL UPDATE/DELETE/INSERT on the
warehouse table, text edits of ledger.jsonl. `weblog audit verify` must then FAIL and
name the entry.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import ledger, warehouse
from pipelines.cli import cli
from pipelines.config import Config
from pipelines.errors import WeblogError
from pipelines.verify import verify_retention

REPO = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 15, 2, 30, 0, 123456)


def _details(i: int) -> dict:
    return {"partitions": [{"name": f"date=2026-11-0{i}", "rows": 10 * i,
                            "files": [{"name": f"{i}-0_0.parquet", "sha256": "ab" * 32}]}],
            "count": 1, "rows": 10 * i}


@pytest.fixture
def cfg(tmp_path) -> Config:
    """A data folder whose ledger holds three entries (table and mirror)."""
    c = Config(data_dir=tmp_path / "data")
    con = warehouse.connect(c.data_dir)
    try:
        for i in (1, 2, 3):
            ledger.record(con, c, action="purge_raw", result="removed",
                          cutoff=dt.date(2026, 11, i + 1), details=_details(i),
                          now=NOW + dt.timedelta(minutes=i))
    finally:
        con.close()
    return c


def _table(cfg: Config) -> list[ledger.Entry]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return ledger.read_table(con)
    finally:
        con.close()


def _sql(cfg: Config, sql: str, params: list | None = None) -> None:
    con = duckdb.connect(str(warehouse.warehouse_path(cfg.data_dir)))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def _lines(cfg: Config) -> list[str]:
    return ledger.mirror_path(cfg.data_dir).read_text().splitlines(keepends=True)


def _write_lines(cfg: Config, lines: list[str]) -> None:
    ledger.mirror_path(cfg.data_dir).write_text("".join(lines))


def _problems(cfg: Config, anchor: str | None = None) -> list[str]:
    verdict = verify_retention(cfg, anchor=anchor)
    check = verdict.checks[0]
    assert check.name == "ledger"
    assert verdict.passed is not bool(check.evidence)
    return check.evidence


# --------------------------------------------------------------------------- the chain

def test_entries_chain_and_mirror_agree(cfg):
    entries = _table(cfg)
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == ledger.GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    for e in entries:
        body = {k: v for k, v in e.to_dict().items() if k != "hash"}
        blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        assert e.hash == hashlib.sha256(blob).hexdigest()
    mirror, problems = ledger.read_mirror(cfg.data_dir)
    assert mirror == entries and problems == []
    assert entries[1].recorded_at == "2026-11-15T02:32:00.123456Z"
    assert entries[1].policy == ledger.policy_of(cfg)
    assert entries[1].policy["policy_hash"] == cfg.policy_hash()
    assert re.fullmatch(r"[^@\s]+@\S+", entries[0].operator)
    assert _problems(cfg) == []


def _changed(value):
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "x": 1}
    return "2026-01-01" if value is None else value + "x"


@pytest.mark.parametrize("field", [f for f in ledger.FIELDS if f != "hash"])
def test_every_field_is_covered_by_the_hash(cfg, field):
    entry = _table(cfg)[1]
    forged = dataclasses.replace(entry, **{field: _changed(getattr(entry, field))})
    assert forged != entry and forged.computed_hash() != entry.hash
    assert ledger.check_chain([_table(cfg)[0], forged], "t")


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=5),
       st.integers(min_value=0, max_value=10**6))
def test_any_changed_count_breaks_the_chain(position, field_index, value):
    entries = [ledger.make_entry(i + 1, ledger.GENESIS if i == 0 else "0", action="purge_raw",
                                 result="removed", cutoff=None, policy={"raw_days": 7},
                                 details={"rows": i, "files": i, "count": 1}, who="a@b",
                                 now=NOW) for i in range(3)]
    chain = []
    prev = ledger.GENESIS
    for e in entries:  # relink properly
        e = ledger.make_entry(e.sequence, prev, action=e.action, result=e.result, cutoff=None,
                              policy=e.policy, details=e.details, who=e.operator, now=NOW)
        chain.append(e)
        prev = e.hash
    assert ledger.check_chain(chain, "t") == []
    key = ["rows", "files", "count", "x", "y", "z"][field_index]
    target = chain[position]
    if target.details.get(key) == value:
        value += 1
    chain[position] = dataclasses.replace(target, details={**target.details, key: value})
    problems = ledger.check_chain(chain, "t")
    assert problems and f"entry {position + 1}" in problems[0]


# --------------------------------------------------------------------------- tampering

def _forged_next(cfg: Config) -> ledger.Entry:
    last = _table(cfg)[-1]
    return ledger.make_entry(last.sequence + 1, last.hash, action="purge_raw",
                             result="removed", cutoff=dt.date(2026, 11, 9),
                             policy=ledger.policy_of(cfg), details=_details(4), who="x@y",
                             now=NOW + dt.timedelta(hours=1))


def _insert(cfg: Config, e: ledger.Entry) -> None:
    _sql(cfg, "insert into purge_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [e.sequence, dt.datetime.fromisoformat(e.recorded_at.rstrip("Z")), e.action, e.result,
          e.cutoff, e.operator, ledger.canonical(e.policy), ledger.canonical(e.details),
          e.prev_hash, e.hash])


def tamper_table_edit(cfg):
    _sql(cfg, "update purge_ledger set details = replace(details, '\"rows\":20', '\"rows\":2') "
              "where sequence = 2")
    return ["purge_ledger: entry 2 (purge_raw) does not match its hash",
            "entry 2 differs between purge_ledger and ledger.jsonl (details)"]


def tamper_table_delete(cfg):
    _sql(cfg, "delete from purge_ledger where sequence = 2")
    return ["purge_ledger: entry 3 is at position 2",
            "purge_ledger: entry 3 does not link to the entry before it",
            "entry 2 (purge_raw) is in ledger.jsonl but not in purge_ledger"]


def tamper_table_reorder(cfg):
    _sql(cfg, "update purge_ledger set sequence = case sequence when 2 then 3 else 2 end "
              "where sequence in (2, 3)")
    return ["purge_ledger: entry 2 (purge_raw) does not match its hash",
            "entry 2 differs between purge_ledger and ledger.jsonl"]


def tamper_table_append(cfg):
    _insert(cfg, _forged_next(cfg))
    return ["entry 4 (purge_raw) is in purge_ledger but not in ledger.jsonl"]


def tamper_mirror_edit(cfg):
    lines = _lines(cfg)
    lines[1] = lines[1].replace('"rows":20', '"rows":2')
    _write_lines(cfg, lines)
    return ["ledger.jsonl: entry 2 (purge_raw) does not match its hash",
            "entry 2 differs between purge_ledger and ledger.jsonl (details)"]


def tamper_mirror_delete(cfg):
    lines = _lines(cfg)
    _write_lines(cfg, lines[:1] + lines[2:])
    return ["ledger.jsonl: entry 3 is at position 2",
            "entry 2 (purge_raw) is in purge_ledger but not in ledger.jsonl"]


def tamper_mirror_reorder(cfg):
    lines = _lines(cfg)
    _write_lines(cfg, [lines[0], lines[2], lines[1]])
    return ["ledger.jsonl: entry 3 is at position 2",
            "ledger.jsonl: entry 3 does not link to the entry before it"]


def tamper_mirror_append(cfg):
    _write_lines(cfg, _lines(cfg) + [_forged_next(cfg).line()])
    return ["entry 4 (purge_raw) is in ledger.jsonl but not in purge_ledger"]


def tamper_mirror_garbage(cfg):
    _write_lines(cfg, _lines(cfg) + ["not json\n"])
    return ["ledger.jsonl line 4 is not a ledger entry"]


TAMPERING = [tamper_table_edit, tamper_table_delete, tamper_table_reorder, tamper_table_append,
             tamper_mirror_edit, tamper_mirror_delete, tamper_mirror_reorder,
             tamper_mirror_append, tamper_mirror_garbage]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__.removeprefix("tamper_"))
def test_tampering_fails_verification_naming_the_entry(cfg, tamper):
    assert _problems(cfg) == []
    expected = tamper(cfg)
    problems = _problems(cfg)
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)


def test_cli_verify_fails_with_evidence(cfg):
    tamper_mirror_edit(cfg)
    result = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "entry 2" in result.output
    latest = json.loads((cfg.data_dir / "audit" / "verify-latest.json").read_text())
    assert latest["verdict"] == "FAIL" and latest["passed"] is False


def test_removing_the_newest_entries_from_both_copies_is_caught_by_an_anchor(cfg):
    head = _table(cfg)[-1].hash
    assert _problems(cfg, anchor=head) == []
    _sql(cfg, "delete from purge_ledger where sequence = 3")
    _write_lines(cfg, _lines(cfg)[:2])
    assert _problems(cfg) == []  # the chain alone cannot see it...
    problems = _problems(cfg, anchor=head)  # ...the hash kept from a report can
    assert len(problems) == 1 and "anchor" in problems[0] and head[:16] in problems[0]


# --------------------------------------------------------------------------- crash repair

def _sync(cfg: Config) -> list[str]:
    con = warehouse.connect(cfg.data_dir)
    try:
        return ledger.sync_mirror(con, cfg.data_dir)
    finally:
        con.close()


def test_sync_completes_the_entry_a_crash_left_out_of_the_mirror(cfg):
    full = _lines(cfg)
    _write_lines(cfg, full[:2])  # killed after the commit of entry 3, before its line
    assert _sync(cfg) == []
    assert _lines(cfg) == full


def test_sync_completes_a_torn_last_line(cfg):
    full = _lines(cfg)
    _write_lines(cfg, full[:2] + [full[2][:40]])  # killed in the middle of the write
    assert _problems(cfg)  # verify sees the damage until the next purge repairs it
    assert _sync(cfg) == []
    assert _lines(cfg) == full and _problems(cfg) == []


@pytest.mark.parametrize("damage", ["two missing", "edited", "foreign tail"])
def test_sync_never_rewrites_a_mirror_that_differs_otherwise(cfg, damage):
    lines = _lines(cfg)
    if damage == "two missing":
        lines = lines[:1]
    elif damage == "edited":
        lines[0] = lines[0].replace('"rows":10', '"rows":11')
    else:
        lines = lines[:2] + ['{"sequence": 3']
    _write_lines(cfg, lines)
    before = ledger.mirror_path(cfg.data_dir).read_bytes()
    problems = _sync(cfg)
    assert problems and ledger.mirror_path(cfg.data_dir).read_bytes() == before


# --------------------------------------------------------------------------- contents

def test_an_entry_never_holds_an_address():
    for details in ({"name": "logs/203.0.113.7/access.log"}, {"x": ["2001:db8::1:2"]}):
        with pytest.raises(WeblogError, match="address literal"):
            ledger.make_entry(1, ledger.GENESIS, action="purge_source", result="removed",
                              cutoff=None, policy={}, details=details, who="a@b", now=NOW)
    with pytest.raises(TypeError):
        ledger.make_entry(1, ledger.GENESIS, action="purge_raw", result="removed", cutoff=None,
                          policy={}, details={"seconds": 1.5}, who="a@b", now=NOW)
    with pytest.raises(ValueError):
        ledger.make_entry(1, ledger.GENESIS, action="purge_everything", result="removed",
                          cutoff=None, policy={}, details={}, who="a@b", now=NOW)


def test_weblog_code_only_ever_inserts_into_the_ledger():
    """Append-only as far as DuckDB allows: nothing in weblog updates or deletes it."""
    pattern = re.compile(r"(update|delete\s+from|drop\s+table|truncate)\s+[\"']?purge_ledger",
                         re.I)
    sources = [*REPO.glob("pipelines/*.py"), *REPO.glob("flows/*.py"), *REPO.glob("sql/**/*.sql")]
    assert len(sources) > 30
    assert [p.name for p in sources if pattern.search(p.read_text())] == []
    assert pattern.search('con.execute("delete from purge_ledger where 1")')

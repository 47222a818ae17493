"""pipelines.prefect_home: where Prefect's home is, and a scan that decodes what it stores.

No Prefect here: the database and storage files are built by hand in the shapes Prefect
writes (a SQLite table with JSON text, a result file whose "result" is a base64 pickle)."""
from __future__ import annotations

import base64
import gzip
import json
import pickle
import sqlite3
from pathlib import Path

from pipelines.prefect_home import (find_needles, iter_texts, needle_variants, prefect_environment,
                                    prefect_home, prepare_home)

ADDRESS = "203.0.113.9"


def test_home_defaults_to_the_data_dir_unless_set(tmp_path):
    assert prefect_home(tmp_path / "data", {}) == (tmp_path / "data" / "prefect").absolute()
    assert prefect_home(tmp_path / "data", {"PREFECT_HOME": str(tmp_path / "p")}) == tmp_path / "p"
    env = prefect_environment(tmp_path / "data", {})
    assert env == {"PREFECT_HOME": str((tmp_path / "data" / "prefect").absolute()),
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def test_prepare_home_is_owner_only(tmp_path):
    home = prepare_home(tmp_path / "data", {})
    assert home.is_dir() and home.stat().st_mode & 0o777 == 0o700


def _database(path: Path, payload: str) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE flow_run (id TEXT, parameters JSON)")
    con.execute("CREATE TABLE events (payload JSON, blob BLOB)")
    con.execute("INSERT INTO flow_run VALUES ('a', ?)", [payload])
    con.execute("INSERT INTO events VALUES ('{}', ?)", [b"\x00\x01nothing"])
    con.commit()
    con.close()


def test_finds_text_in_every_row_of_every_table(tmp_path):
    _database(tmp_path / "prefect.db", json.dumps({"client": ADDRESS}))
    hits = find_needles(iter_texts(tmp_path), [ADDRESS])
    assert any(w.startswith("prefect.db:flow_run.parameters") for w, _ in hits)


def test_finds_text_in_an_extra_database_outside_home(tmp_path):
    other = tmp_path / "elsewhere.db"
    _database(other, json.dumps({"client": ADDRESS}))
    (tmp_path / "home").mkdir()
    assert find_needles(iter_texts(tmp_path / "home"), [ADDRESS]) == []
    assert find_needles(iter_texts(tmp_path / "home", [other]), [ADDRESS])


def test_decodes_base64_pickles_in_storage(tmp_path):
    """Prefect's result files: JSON metadata + base64(cloudpickle); grep cannot see inside."""
    storage = tmp_path / "storage"
    storage.mkdir()
    blob = base64.b64encode(pickle.dumps({"kept": f"visitor {ADDRESS}"})).decode()
    (storage / "abc123").write_text(json.dumps({"metadata": {"serializer": {"type": "pickle"}},
                                                "result": blob}))
    assert ADDRESS.encode() not in (storage / "abc123").read_bytes()
    hits = find_needles(iter_texts(tmp_path), [ADDRESS])
    assert hits and all("decoded" in w for w, _ in hits)


def test_decodes_compressed_base64(tmp_path):
    blob = base64.b64encode(gzip.compress(f"ua {ADDRESS}".encode() * 4)).decode()
    (tmp_path / "result").write_text(json.dumps({"result": blob}))
    assert find_needles(iter_texts(tmp_path), [ADDRESS])


def test_finds_escaped_forms():
    ua = 'Mozilla/5.0 "quoted" <b>'
    stored = json.dumps({"ua": ua})
    assert ua not in stored
    assert find_needles([("x", stored)], [ua]) == [("x", ua)]
    assert json.dumps(ua)[1:-1] in needle_variants(ua)


def test_nothing_found_means_nothing_there(tmp_path):
    _database(tmp_path / "prefect.db", json.dumps({"client": "198.51.100.0/24"}))
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "r").write_text(json.dumps(
        {"result": base64.b64encode(pickle.dumps("counts only")).decode()}))
    assert find_needles(iter_texts(tmp_path), [ADDRESS, "198.51.100.7"]) == []


def test_a_database_log_is_read_as_text_runs_not_random_bytes(tmp_path):
    """A database's raw bytes (here its write-ahead log) are scanned for text between
    binary fields: an address written there is found; three bytes that happen to read
    "::A" between binary fields (seen in a real Prefect WAL, reported as the IPv6 address
    ::a) are not text."""
    from pipelines.leaks import Scanner

    _database(tmp_path / "prefect.db", json.dumps({"client": "198.51.100.0/24"}))
    wal = tmp_path / "prefect.db-wal"
    wal.write_bytes(b"\x00\x07\xff::A\x01\x9c" * 50)
    scanner = Scanner(24, 48)
    assert [hit for _, text in iter_texts(tmp_path) for hit in scanner.scan(text)] == []
    wal.write_bytes(b"\x00\x07\xff::A\x01\x9c" + f"visitor {ADDRESS}".encode() + b"\x02")
    hits = [(where, hit) for where, text in iter_texts(tmp_path) for hit in scanner.scan(text)]
    assert hits and all(where.endswith("prefect.db-wal") for where, _ in hits)
    assert find_needles(iter_texts(tmp_path), [ADDRESS])

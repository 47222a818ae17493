"""Prefect's home folder: where weblog puts it, and every text it holds (for leak scans).

Prefect keeps its state under PREFECT_HOME: the SQLite database of the local server
(`prefect.db`: flow runs with their parameters, log rows, state messages, events,
artifacts) and `storage/` (persisted results: JSON whose "result" is a base64 pickle a
plain grep cannot read). weblog runs Prefect with PREFECT_HOME = DATA_DIR/prefect unless
the operator set PREFECT_HOME, so auditors know where to look, and always with
PREFECT_SERVER_ANALYTICS_ENABLED=false (no network at run time).

`iter_texts` yields every text found there, decoded: each cell of each table of each
SQLite database, the raw bytes of every file (deleted rows linger in free pages), each
string of a JSON file, and, inside any of those, base64 runs decoded (and decompressed when
they are). Unpickling is never needed: a pickle stores its strings as UTF-8 bytes, so the
decoded bytes hold them verbatim, and unpickling untrusted files would run their code.

This module never imports prefect: it only deals with environment variables and files.
"""
from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import html
import json
import lzma
import os
import re
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

HOME_NAME = "prefect"
_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{24,}={0,2}")
#: text inside a binary file: 7+ printable ASCII characters (an IPv4 address has 7 at least)
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{7,}")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def prefect_home(data_dir: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """$PREFECT_HOME when the operator set it, else DATA_DIR/prefect."""
    chosen = environ.get("PREFECT_HOME")
    return Path(chosen).expanduser().absolute() if chosen else Path(data_dir).absolute() / HOME_NAME


def prefect_environment(data_dir: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Environment variables to set before prefect is imported."""
    return {"PREFECT_HOME": str(prefect_home(data_dir, environ)),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def prepare_home(data_dir: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Create Prefect's home owner-only (its database holds run logs) and return it."""
    home = prefect_home(data_dir, environ)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


# --------------------------------------------------------------------------- decoding

def _decompress(data: bytes) -> bytes | None:
    for magic, fn in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                      (b"\xfd7zXZ\x00", lzma.decompress), (b"x", zlib.decompress)):
        if data.startswith(magic):
            try:
                return fn(data)
            except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
                return None
    return None


def _decoded_runs(data: bytes, depth: int) -> Iterator[bytes]:
    """Base64 runs inside `data`, decoded (and decompressed), recursively."""
    if depth <= 0:
        return
    for m in _B64_RUN.finditer(data):
        run = m.group(0)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                blob = decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            unpacked = _decompress(blob)
            for part in (blob, unpacked):
                if part:
                    yield part
                    yield from _decoded_runs(part, depth - 1)
            break


def _texts_of(data: bytes, where: str, depth: int = 2) -> Iterator[tuple[str, str]]:
    yield where, data.decode("utf-8", errors="replace")
    for i, blob in enumerate(_decoded_runs(data, depth)):
        yield f"{where} (decoded #{i})", blob.decode("utf-8", errors="replace")


def _json_strings(doc: object) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _json_strings(v)


def _sqlite_texts(path: Path) -> Iterator[tuple[str, str]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            try:
                cursor = con.execute(f'SELECT * FROM "{table}"')
            except sqlite3.DatabaseError:  # e.g. a virtual table whose module is absent
                continue
            columns = [d[0] for d in cursor.description]
            for n, row in enumerate(cursor):
                for column, value in zip(columns, row):
                    where = f"{path.name}:{table}.{column} row {n}"
                    if isinstance(value, str):
                        yield from _texts_of(value.encode("utf-8"), where)
                    elif isinstance(value, bytes):
                        yield from _texts_of(value, where)
    finally:
        con.close()


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == _SQLITE_MAGIC


def iter_texts(home: Path, databases: Iterable[Path] = ()) -> Iterator[tuple[str, str]]:
    """(where, text) for everything under `home` and in the extra SQLite `databases`."""
    home = Path(home)
    files = sorted(p for p in home.rglob("*") if p.is_file()) if home.is_dir() else []
    dbs = list(dict.fromkeys([*map(Path, databases), *(p for p in files if _is_sqlite(p))]))
    for db in dbs:
        yield from _sqlite_texts(db)
    extra = [p for db in dbs for p in (db, Path(f"{db}-wal")) if p.is_file()]
    binary = {Path(f"{db}{suffix}") for db in dbs for suffix in ("", "-wal", "-shm", "-journal")}
    for path in dict.fromkeys(files + extra):
        data = path.read_bytes()
        if path in binary:
            # a database's pages: its live rows were read above; what else its bytes hold
            # (deleted rows, the log) is text between binary fields. Only printable runs of
            # 7 or more characters are text: random bytes such as "::A" between binary
            # fields read as the IPv6 address ::a (a false leak seen in a real WAL)
            data = b"\n".join(_PRINTABLE_RUN.findall(data))
        yield from _texts_of(data, str(path))
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            continue
        for i, text in enumerate(_json_strings(doc)):
            yield from _texts_of(text.encode("utf-8"), f"{path} (json string #{i})")


# --------------------------------------------------------------------------- matching

def needle_variants(needle: str) -> set[str]:
    """How a text may appear once stored: as is, JSON-, HTML- or URL-escaped."""
    return {needle, json.dumps(needle)[1:-1], json.dumps(needle, ensure_ascii=False)[1:-1],
            html.escape(needle), quote(needle, safe=""), quote_plus(needle)}


def find_needles(texts: Iterable[tuple[str, str]], needles: Iterable[str]) -> list[tuple[str, str]]:
    """(where, needle) for every needle found in any of `texts`, in any stored form."""
    forms = {needle: needle_variants(needle) for needle in needles if needle}
    hits = []
    for where, text in texts:
        for needle, variants in forms.items():
            if any(v in text for v in variants):
                hits.append((where, needle))
    return hits

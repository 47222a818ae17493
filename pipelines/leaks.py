"""Finding full client addresses and client host names outside RAW (invariant 1).

A `Scanner` looks at a text two ways:
- by pattern: every IPv4/IPv6 literal with host bits beyond the policy prefixes
  (anonymize.address_literals, also in percent-decoded text), loopback and unspecified
  addresses excepted (the machine itself, never a visitor: Prefect's API URL is
  http://127.0.0.1:.../api);
- by exact needles taken from RAW now (`raw_needles`): every client address with host
  bits, every forwarded-for entry, every client host name. An address needle matches a
  whole dotted quad (four consecutive dot-separated numbers) or a whole IPv6 run; a host
  name matches whole labels (`www.visitor-4.example.net` contains `visitor-4.example.net`,
  `xvisitor-4.example.net` does not). A host name that is itself a registered domain is
  no needle: DETAIL keeps registered domains by design (`client_domain`).

`scan_duckdb`, `scan_parquet` and `scan_file` apply it where data can end up: each text
(or text-castable) column of each table, read with DuckDB rather than grepping compressed
pages; other files as text (decompressed when gzip/bzip2/xz/zstd). Findings carry where
and a masked form ('203.0.113.0/24', 'v***.example.net'), never the value itself.
"""
from __future__ import annotations

import bz2
import gzip
import ipaddress
import lzma
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import duckdb

from . import raw
from .anonymize import address_literals, parse_client, truncate
from .domains import registered_domain
from .parse import sql_str

# Each pattern starts only where a run starts (a look-behind), so a long run that does not
# match (a base64 blob, a hash) costs one attempt, not one per character.
_HOST_TOKEN = re.compile(r"(?<![a-z0-9_-])[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
_DOTTED = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]+){3,}")
_IPV6_RUN = re.compile(r"(?<![0-9a-f:.])[0-9a-f.]*:[0-9a-f:.]*")
_TEXTUAL = ("VARCHAR", "JSON", "BLOB", "UUID")
_SKIP_TYPES = re.compile(r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|"
                         r"UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*|DATE|TIME.*|"
                         r"TIMESTAMP.*|INTERVAL|BIT)$")
BLOCK = 8 << 20
OVERLAP = 512
RAW_COLUMNS = {"client_address", "client_hostname", "forwarded_for"}
REJECT_COLUMNS = {"line", "reason", "source_file_id"}


@dataclass(frozen=True, order=True)
class Finding:
    where: str
    kind: str  # 'address' | 'host name'
    masked: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.masked}"


def mask_host(name: str) -> str:
    """'visitor-4.example.net' -> 'v***.example.net' (the first label withheld)."""
    first, _, rest = name.partition(".")
    return f"{first[:1]}***.{rest}" if rest else f"{first[:1]}***"


@dataclass
class Scanner:
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    addresses: set[str] = field(default_factory=set)  # exact needles (normalised)
    hostnames: set[str] = field(default_factory=set)

    def _has_host_bits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if ip.is_loopback or ip.is_unspecified:
            return False
        return truncate(address, self.ipv4_prefix, self.ipv6_prefix).split("/")[0] != address

    def _address(self, address: str) -> str:
        return truncate(address, self.ipv4_prefix, self.ipv6_prefix)

    def scan(self, text: str) -> set[tuple[str, str]]:
        """(kind, masked) of everything in `text` that only RAW may hold."""
        found: set[tuple[str, str]] = set()
        texts = [text, unquote(text)] if "%" in text else [text]
        for t in texts:
            if ":" in t or "." in t:
                for _, address in address_literals(t):
                    if self._has_host_bits(address):
                        found.add(("address", self._address(address)))
            if self.addresses or self.hostnames:
                found |= self.needles(t.lower())
        return found

    def needles(self, low: str) -> set[tuple[str, str]]:
        """Exact needles in lower-cased text: (kind, masked) of each found."""
        found = set()
        if self.addresses:
            for m in _DOTTED.finditer(low):
                parts = m.group().split(".")
                for i in range(len(parts) - 3):
                    quad = ".".join(parts[i:i + 4])
                    if quad in self.addresses:
                        found.add(("address", self._address(quad)))
            if ":" in low:
                for m in _IPV6_RUN.finditer(low):
                    run = m.group().strip(":.")
                    if run.count(":") >= 2 and run in self.addresses:
                        found.add(("address", self._address(run)))
        if self.hostnames and "." in low:
            for m in _HOST_TOKEN.finditer(low):
                found |= self._token(m.group())
        return found

    def _token(self, token: str) -> frozenset[tuple[str, str]]:
        """Host-name needles in one dotted token, as whole labels (cached: tokens repeat)."""
        cache = self.__dict__.setdefault("_tokens", {})
        hit = cache.get(token)
        if hit is None:
            lasts = self.__dict__.get("_lasts")
            if lasts is None:
                lasts = self.__dict__["_lasts"] = {h.rpartition(".")[2] for h in self.hostnames}
            labels = token.strip("-").split(".")
            names = {".".join(labels[i:j]) for j in range(2, len(labels) + 1)
                     if labels[j - 1] in lasts for i in range(j - 1)}
            hit = frozenset(("host name", mask_host(n)) for n in names & self.hostnames)
            if len(cache) < 200_000:
                cache[token] = hit
        return hit

    def findings(self, where: str, text: str) -> list[Finding]:
        return [Finding(where, kind, masked) for kind, masked in sorted(self.scan(text))]


# --------------------------------------------------------------------------- needles from RAW

def _raw_files(data_dir: Path) -> list[Path]:
    return sorted(f for folder in raw.raw_days(data_dir).values() for f in folder.glob("*.parquet"))


@dataclass
class Needles:
    addresses: set[str] = field(default_factory=set)
    hostnames: set[str] = field(default_factory=set)
    unreadable: list[Path] = field(default_factory=list)  # RAW files that could not be read


def _add_clients(con: duckdb.DuckDBPyConnection, path: Path, needles: Needles) -> None:
    rel = f"read_parquet({sql_str(path.as_posix())}, hive_partitioning = false)"
    columns = {c for (c, *_) in con.execute(f"describe select * from {rel}").fetchall()}
    for column in ("client_address", "client_hostname", "forwarded_for"):
        if column not in columns:
            continue
        for (value,) in con.execute(f"select distinct {column} from {rel} "
                                    f"where {column} is not null").fetchall():
            parts = value.split(",") if column == "forwarded_for" else [value]
            for part in parts:
                client = parse_client(part)
                if client.address:
                    needles.addresses.add(client.address)
                elif client.hostname:
                    needles.hostnames.add(client.hostname)


def raw_needles(data_dir: Path, ipv4_prefix: int, ipv6_prefix: int) -> Needles:
    """The full addresses and client host names RAW holds now, as exact needles."""
    needles = Needles()
    con = duckdb.connect()
    try:
        for path in _raw_files(data_dir):
            try:
                _add_clients(con, path, needles)
            except duckdb.Error:
                needles.unreadable.append(path)
    finally:
        con.close()
    scanner = Scanner(ipv4_prefix, ipv6_prefix)
    needles.addresses = {a for a in needles.addresses if scanner._has_host_bits(a)}
    needles.hostnames = {h for h in needles.hostnames if "." in h and registered_domain(h) != h}
    return needles


# --------------------------------------------------------------------------- structured files

def _columns(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str, str, str]]:
    """(schema, table, column, type) of every column worth scanning in `database`."""
    rows = con.execute("select schema_name, table_name, column_name, data_type "
                       "from duckdb_columns() where database_name = ? and not internal "
                       "order by 1, 2, 3", [database]).fetchall()
    return [r for r in rows if not _SKIP_TYPES.match(r[3])]


def _distinct_texts(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[str]:
    cur = con.execute(sql)
    while batch := cur.fetchmany(10_000):
        for (value,) in batch:
            if value:
                yield value


def scan_duckdb(con: duckdb.DuckDBPyConnection, database: str, scanner: Scanner,
                label: str) -> list[Finding]:
    """Every distinct value of every textual column of every table (and view-free)."""
    out: list[Finding] = []
    tables = {(s, t) for (s, t) in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?",
        [database]).fetchall()}
    for schema, table, column, _ in _columns(con, database):
        if (schema, table) not in tables:
            continue  # views: their rows come from tables scanned anyway
        ref = f'"{database}"."{schema}"."{table}"'
        sql = f'select distinct cast("{column}" as varchar) from {ref} where "{column}" is not null'
        where = f"{label}: {table}.{column}"
        seen: set[tuple[str, str]] = set()
        for value in _distinct_texts(con, sql):
            seen |= scanner.scan(value)
        out += [Finding(where, k, m) for k, m in sorted(seen)]
    return out


def _scan_columns(con: duckdb.DuckDBPyConnection, relation: str, scanner: Scanner,
                  where: Callable[[str], str]) -> list[Finding]:
    """Every distinct value of every textual column of `relation` (SQL of a table, view or
    table function); `where(column)` names a column's findings."""
    out: list[Finding] = []
    for column, kind, *_ in con.execute(f"describe select * from {relation}").fetchall():
        if _SKIP_TYPES.match(kind):
            continue
        seen: set[tuple[str, str]] = set()
        for value in _distinct_texts(con, f'select distinct cast("{column}" as varchar) '
                                          f'from {relation} where "{column}" is not null'):
            seen |= scanner.scan(value)
        out += [Finding(where(column), k, m) for k, m in sorted(seen)]
    return out


def scan_relation(con: duckdb.DuckDBPyConnection, relation: str, scanner: Scanner,
                  label: str) -> list[Finding]:
    """One relation by its name (e.g. DETAIL's view `requests` over its Parquet files: one
    pass per column over all of them, not one per file)."""
    return _scan_columns(con, relation, scanner, lambda c: f"{label}: {relation}.{c}")


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        f"describe select * from read_parquet({sql_str(path.as_posix())})").fetchall()]


def scan_parquet(con: duckdb.DuckDBPyConnection, path: Path, scanner: Scanner,
                 label: str) -> list[Finding]:
    rel = f"read_parquet({sql_str(path.as_posix())}, hive_partitioning = false)"
    return _scan_columns(con, rel, scanner, lambda c: f"{label}: column {c}")


def _open_stream(path: Path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"),
                                                          read_across_frames=True,
                                                          closefd=True)
    return open(path, "rb")


def text_blocks(path: Path) -> Iterator[str]:
    """A file's (decompressed) content as text, in overlapping blocks."""
    tail = b""
    try:
        with _open_stream(path) as stream:
            while block := stream.read(BLOCK):
                data = tail + block
                yield data.decode("utf-8", errors="replace")
                tail = data[-OVERLAP:]
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise OSError(f"unreadable ({type(exc).__name__})") from None


def scan_file(path: Path, scanner: Scanner, label: str) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    for text in text_blocks(path):
        seen |= scanner.scan(text)
    return [Finding(label, k, m) for k, m in sorted(seen)]


def scan_texts(texts: Iterable[tuple[str, str]], scanner: Scanner) -> list[Finding]:
    """(where, text) pairs, e.g. pipelines.prefect_home.iter_texts."""
    found: dict[tuple[str, str, str], None] = {}
    for where, text in texts:
        for kind, masked in scanner.scan(text):
            found[(where, kind, masked)] = None
    return [Finding(*k) for k in found]

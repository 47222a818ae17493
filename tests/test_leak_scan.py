"""Privacy invariant 1, end to end: after everything an operator does, no full address and
no client host name that was in the RAW tier exists anywhere outside RAW.

One site goes through, as a user would run it:
 1. `weblog demo` (the nightly flow on a temporary Prefect server, Prefect's home in the
    data folder), `weblog stats`, `status`, `report`, `export`, `audit verify`;
 2. `weblog subject erase` of one visitor's address;
 3. a deliberately failing `weblog nightly`: a hostile source whose user agent makes the
    (third-party) parser raise an error quoting it, and a truncated .gz file; the
    addresses of those files never reach RAW, so they are needles too;
 4. `weblog purge --as-of` past the RAW window (in-process purge code, with the
    warehouse rewrite storing every value uncompressed, so its bytes can be searched),
    then `weblog audit verify` and `weblog audit report`.

Needles: every client address (with host bits), forwarded-for entry and client host name
RAW held before the purge (pipelines.leaks.raw_needles), plus those of the failing
sources; and any address literal with host bits (pattern). Scanned: every file of the
data folder outside raw/ (Parquet and DuckDB files opened, SQLite read row by row), the
warehouse's tables and its file's bytes, Prefect's home (database rows and decoded
storage files), the report and the exports, and stdout/stderr of every command. Zero
hits; and a planted address is found in each kind of place, so the scan is not vacuous.
"""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fault_kit import WEBLOG, env_for
from pipelines import detail, leaks, raw, verify, warehouse
from pipelines.anonymize import find_leaks
from pipelines.config import load_config
from pipelines.prefect_home import iter_texts, prefect_home

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)
PURGE_AS_OF = AS_OF + dt.timedelta(days=8)  # RAW cutoff after every RAW day; DETAIL half
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
# the failing sources: their lines never reach RAW
FAILING_ADDRESSES = ["198.51.100.231", "2001:db8:77:1::231", "203.0.113.232"]
FAILING_HOST = "leaky-host-7.visitors.example.net"
QUOTING_CHILD = """
import sys
from pipelines import agents

class Quoting:
    # stands in for a user-agent parser that fails with the agent in its message
    def __init__(self, real):
        self.real = real
    def parse(self, ua):
        if "HOSTILE" in ua:
            raise ValueError(f"cannot parse user agent {ua!r}")
        return self.real.parse(ua)

agents._parser_instance = Quoting(agents._parser())
from pipelines.cli import main
sys.argv = ["weblog", *sys.argv[1:]]
main()
"""
PURGE_CHILD = """
import datetime as dt, json, sys
from pipelines.config import load_config
from pipelines.purge import purge_expired, render_text
cfg = load_config(sys.argv[1])
result = purge_expired(cfg, as_of=dt.date.fromisoformat(sys.argv[2]),
                       force_compression="uncompressed")
print("\\n".join(render_text(result, cfg.raw_days, cfg.detail_days)))
"""


class Site:
    """A folder with weblog.toml, running commands and keeping every output."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outputs: dict[str, str] = {}

    def run(self, label: str, *args: str, child: str | None = None,
            expect: int = 0) -> subprocess.CompletedProcess:
        argv = ([sys.executable, "-c", child] if child else [WEBLOG]) + list(args)
        env = env_for(REPO)
        done = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=600)
        self.outputs[label] = done.stdout + done.stderr
        assert done.returncode == expect, (label, done.stdout[-3000:], done.stderr[-3000:])
        return done


def _line(client: str, second: int, ua: str = UA, path: str = "/x") -> str:
    return (f'{client} - - [14/Nov/2026:10:{second // 60:02d}:{second % 60:02d} +0900] '
            f'"GET {path} HTTP/1.1" 200 512 "-" "{ua}"\n')


@pytest.fixture(scope="module")
def operated(tmp_path_factory):
    """The site after steps 1-4; (site, config, needles)."""
    root = tmp_path_factory.mktemp("leak-scan")
    example = (REPO / "weblog.example.toml").read_text(encoding="utf-8")
    example = re.sub(r"(?m)^detail_days = 90", "detail_days = 10", example)
    (root / "weblog.toml").write_text(example, encoding="utf-8")
    site = Site(root)

    # 1. the demo and what a web team looks at
    site.run("demo", "demo", "--days", "4", "--as-of", str(AS_OF))
    cfg = load_config(root / "weblog.toml")
    site.run("stats", "stats")
    site.run("stats --json", "stats", "--json")
    site.run("status", "status", "--as-of", str(AS_OF))
    site.run("report", "report")
    (cfg.data_dir / "exports").mkdir()
    site.run("export csv", "export", "daily_networks", "-o",
             str(cfg.data_dir / "exports" / "networks.csv"))
    site.run("export json", "export", "daily_pages", "-o",
             str(cfg.data_dir / "exports" / "pages.json"))
    site.run("verify 1", "audit", "verify", "--as-of", str(AS_OF))
    needles = leaks.raw_needles(cfg.data_dir, cfg.ipv4_prefix, cfg.ipv6_prefix)
    assert len(needles.addresses) > 50 and needles.hostnames and not needles.unreadable

    # 2. an erasure
    subject = sorted(needles.addresses)[0]
    site.run("erase", "subject", "erase", subject, "--yes")

    # 3. a failing nightly run
    hostile = root / "hostile"
    hostile.mkdir()
    (hostile / "hostile.log").write_text(
        "".join(_line(FAILING_ADDRESSES[i % 2], i) for i in range(20))
        + _line(FAILING_HOST, 30, ua=f"HOSTILE/6.6 (from {FAILING_ADDRESSES[0]})"))
    data = gzip.compress("".join(_line(FAILING_ADDRESSES[2], i) for i in range(3000)).encode())
    (hostile / "truncated.log.gz").write_bytes(data[: len(data) // 2])
    with open(root / "weblog.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[[sources]]\npath = "{hostile}/*"\nformat = "combined"\n')
    site.run("failing nightly", "nightly", "--as-of", str(AS_OF), child=QUOTING_CHILD, expect=1)
    assert "hostile.log" in site.outputs["failing nightly"]
    assert "truncated.log.gz" in site.outputs["failing nightly"]

    # 4. purge past the RAW window (the rewrite stores values uncompressed), verify, report
    site.run("purge", str(root / "weblog.toml"), str(PURGE_AS_OF), child=PURGE_CHILD)
    assert not list((cfg.data_dir / "raw").glob("date=*"))
    site.run("verify 2", "audit", "verify", "--as-of", str(PURGE_AS_OF))
    site.run("audit report", "audit", "report", "--as-of", str(PURGE_AS_OF), "-o",
             str(cfg.data_dir / "audit" / "deletion-record.md"))
    site.run("status 2", "status", "--as-of", str(PURGE_AS_OF))
    needles.addresses |= set(FAILING_ADDRESSES)
    needles.hostnames.add(FAILING_HOST)
    return site, cfg, needles


def scanner_for(cfg, needles) -> leaks.Scanner:
    return leaks.Scanner(cfg.ipv4_prefix, cfg.ipv6_prefix, set(needles.addresses),
                         set(needles.hostnames))


def scan_everything(site: Site, cfg, needles, only: str | None = None) -> dict[str, list]:
    """Every place outside RAW (or only one kind of place): what the scanner finds there."""
    scanner = scanner_for(cfg, needles)
    home = prefect_home(cfg.data_dir)
    out: dict[str, list] = {}
    if only in (None, "warehouse tables", "data folder files"):
        con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"), read_only=True)
        try:
            (name,) = con.execute("select current_database()").fetchall()[0]
            if only in (None, "warehouse tables"):
                out["warehouse tables"] = (
                    leaks.scan_duckdb(con, name, scanner, "warehouse.duckdb")
                    + leaks.scan_relation(con, "requests", scanner, "warehouse.duckdb"))
            if only in (None, "data folder files"):
                files = verify.scan_data_dir(cfg, con, scanner, home)
                assert files.files >= 6 and not files.unreadable, files
                out["data folder files"] = files.findings
        finally:
            con.close()
    if only in (None, "Prefect home"):
        out["Prefect home"] = leaks.scan_texts(iter_texts(home), scanner)
    if only in (None, "outputs"):
        out["outputs"] = [(label, hit) for label, text in site.outputs.items()
                          for hit in scanner.scan(text)]
    if only in (None, "warehouse bytes"):
        data = b"".join(p.read_bytes() for p in cfg.data_dir.glob("warehouse.duckdb*"))
        text = data.decode("latin-1")  # one byte, one character: every needle as written
        out["warehouse bytes"] = sorted(
            {masked for _, masked in scanner.needles(text.lower())}
            | {leak for run in re.findall(r"[\x20-\x7e]{7,}", text)
               for leak in find_leaks(run)})
    return out


NOTHING = {"warehouse tables": [], "data folder files": [], "Prefect home": [],
           "outputs": [], "warehouse bytes": []}


def test_nothing_outside_raw_holds_an_address_from_raw_and_a_planted_one_is_found(operated,
                                                                                  tmp_path):
    """One test (the site is built once): the scan finds nothing; it looked at the real
    places; then an address planted in each kind of place is found there."""
    site, cfg, needles = operated
    assert scan_everything(site, cfg, needles) == NOTHING

    # the places are the real ones: the runs were recorded where the scan looks, the
    # report and exports exist, the warehouse stores values in clear
    assert list((cfg.data_dir / "reports").glob("report-*.html"))
    assert (cfg.data_dir / "exports" / "networks.csv").stat().st_size > 100
    joined = "\n".join(t for _, t in iter_texts(prefect_home(cfg.data_dir)))
    assert "hostile.log failed at lines" in joined and "weblog-nightly" in joined
    assert "EOFError" in joined  # the truncated file's error, named, without its content
    plain = b"".join(p.read_bytes() for p in cfg.data_dir.glob("warehouse.duckdb*"))
    assert b"www.example.com" in plain  # a vhost of the statistics
    # DETAIL is Parquet under detail/ (a data folder file the scan decodes), not in the
    # warehouse's bytes
    listing = ", ".join(f"'{f.as_posix()}'" for f in (cfg.data_dir / "detail").glob("*/*"))
    assert listing
    assert duckdb.sql(f"select count(*) from read_parquet([{listing}]) "
                      "where client_net = '192.0.2.0/24'").fetchall()[0][0] > 0
    assert "PASS" in site.outputs["verify 2"]

    # not vacuous: an address from RAW planted in each kind of place is found there
    planted = sorted(needles.addresses)[1]
    home = prefect_home(cfg.data_dir)
    for place, key, where in PLANTS:
        undo = plant(place, planted, cfg, home, tmp_path)
        try:
            hits = scan_everything(site, cfg, needles, only=key)[key]
        finally:
            undo()
        assert hits and all(where in str(h) for h in hits), (place, hits)
    site.outputs["planted"] = f"visitor {planted} in a line of output"
    assert [label for label, _ in scan_everything(site, cfg, needles, "outputs")["outputs"]] \
        == ["planted"]
    del site.outputs["planted"]


PLANTS = [  # (place, scan key, where the finding must point)
    ("text file", "data folder files", "reports/planted.txt"),
    ("duckdb file", "data folder files", "exports/planted.duckdb"),
    ("DETAIL file", "data folder files", "detail/date=2026-11-14/planted.parquet"),
    ("listed DETAIL file", "warehouse tables", "warehouse.duckdb: requests.path"),
    ("Prefect storage", "Prefect home", "planted-result"),
    ("Prefect database", "Prefect home", "log.message"),
    ("warehouse bytes", "warehouse bytes", ""),  # last: it changes the warehouse for good
]


def plant(place: str, address: str, cfg, home: Path, tmp: Path):
    """Put `address` in one place; return how to take it out again."""
    if place == "text file":
        target = cfg.data_dir / "reports" / "planted.txt"
        target.write_text(f"note: {address}\n")
        return lambda: target.unlink()
    if place == "duckdb file":
        target = cfg.data_dir / "exports" / "planted.duckdb"
        con = duckdb.connect(str(target))
        con.execute("create table t as select ? as v", [f"visitor {address}"])
        con.close()
        return lambda: target.unlink()
    if place == "DETAIL file":
        target = raw.ensure_dir(cfg.data_dir / "detail" / "date=2026-11-14") / "planted.parquet"
        duckdb.sql(f"copy (select 'visitor {address}' as path) to '{target.as_posix()}' "
                   "(format parquet, compression zstd)")
        return lambda: target.unlink()
    if place == "listed DETAIL file":  # DETAIL itself: read through the view, not per file
        folder = raw.ensure_dir(cfg.data_dir / "detail" / "date=2026-11-14")
        target = folder / "999-0.parquet"
        con = warehouse.connect(cfg.data_dir)
        try:
            con.execute(f"copy (select * replace ('visitor {address}' as path) from requests "
                        f"limit 1) to '{target.as_posix()}' (format parquet)")
            with warehouse.transaction(con):
                detail.register(con, cfg.data_dir, [target])
                detail.refresh_view(con, cfg.data_dir)
        finally:
            con.close()

        def undo() -> None:
            con = warehouse.connect(cfg.data_dir)
            try:
                with warehouse.transaction(con):
                    detail.unregister(con, [detail.relative(target, cfg.data_dir)])
                    detail.refresh_view(con, cfg.data_dir)
                detail.sweep(con, cfg.data_dir)
            finally:
                con.close()
        return undo
    if place == "Prefect storage":
        target = home / "storage" / "planted-result"
        target.parent.mkdir(exist_ok=True)
        blob = base64.b64encode(pickle.dumps({"kept": address})).decode()
        target.write_text(f'{{"serializer": {{"type": "pickle"}}, "data": "{blob}"}}')
        return lambda: target.unlink()
    if place == "Prefect database":
        import sqlite3

        backup = tmp / "prefect.db"
        shutil.copy(home / "prefect.db", backup)
        db = sqlite3.connect(home / "prefect.db")
        db.execute("update log set message = message || ? "
                   "where rowid = (select min(rowid) from log)", [f" visitor {address}"])
        db.commit()
        db.close()
        return lambda: shutil.copy(backup, home / "prefect.db")
    # warehouse bytes: a value written uncompressed and dropped stays in the file's bytes
    con = duckdb.connect(str(cfg.data_dir / "warehouse.duckdb"))
    con.execute("set force_compression = 'uncompressed'")
    con.execute("create table planted as select ? as note", [f"visitor {address}"])
    con.execute("checkpoint")
    con.execute("drop table planted")
    con.close()
    return lambda: None

"""Tests for the sample-log generators in pipelines.sample.

Lines are checked against a strict combined-format pattern written independently here
(a quoted field is "((?:[^"\\]|\\.)*)"), never against the module's own pattern.
"""
from __future__ import annotations

import gzip
import ipaddress
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sample import (
    demo_manifest,
    expected_counts,
    generate_bench_log,
    generate_demo_logs,
    log_file_names,
)

_Q = r'"((?:[^"\\]|\\.)*)"'
LINE = re.compile(
    r"(\S+) (\S+) (\S+) \[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "
    + _Q + r" ([1-5]\d\d) (\d+|-) " + _Q + " " + _Q
)
MONTHS = {m: i + 1 for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
BOT_TOKENS = ("Googlebot", "bingbot", "AhrefsBot", "curl/", "python-requests/")
DOC_NETS = [ipaddress.ip_network(n) for n in
            ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
BENCH_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "100.64.0.0/10", "2001:db8::/32")]
RESERVED = (".example.com", ".example.net", ".example.org")

END = date(2025, 3, 16)  # a Sunday
DAYS = 14


class Rec:
    """One valid line, parsed."""

    __slots__ = ("host", "user", "local", "offset", "request", "status", "size", "referer", "ua")

    def __init__(self, m: re.Match):
        g = m.groups()
        self.host, self.user = g[0], g[2]
        self.local = datetime(int(g[5]), MONTHS[g[4]], int(g[3]), int(g[6]), int(g[7]), int(g[8]))
        self.offset = g[9]
        self.request, self.status, self.size = g[10], int(g[11]), g[12]
        self.referer, self.ua = g[13], g[14]

    @property
    def method(self) -> str:
        return self.request.split(" ", 1)[0]

    @property
    def target(self) -> str:
        parts = self.request.split(" ")
        return parts[1] if len(parts) == 3 else ""

    @property
    def is_bot(self) -> bool:
        return any(t in self.ua for t in BOT_TOKENS)


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    text = data.decode("ascii")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def parse(lines: list[str]) -> tuple[list[Rec], list[str]]:
    good, bad = [], []
    for line in lines:
        m = LINE.fullmatch(line)
        (good.append(Rec(m)) if m else bad.append(line))
    return good, bad


def host_kind(host: str) -> str:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return "name"
    if addr.version == 6 and addr.ipv4_mapped is None:
        return "v6"
    return "v4"


def in_nets(host: str, nets) -> bool:
    addr = ipaddress.ip_address(host)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == n.version and addr in n for n in nets)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    paths = generate_demo_logs(out, END, days=DAYS, utc_offset="+0900", requests_per_day=2500,
                               seed=7)
    files = []
    for p in paths:
        lines = read_lines(p)
        good, bad = parse(lines)
        files.append({"path": p, "lines": lines, "good": good, "bad": bad})
    return {"dir": out, "paths": paths, "files": files,
            "records": [r for f in files for r in f["good"]]}


# --------------------------------------------------------------------------------------
# Demo logs: files
# --------------------------------------------------------------------------------------


def test_rotation_names_oldest_first(demo):
    names = [p.name for p in demo["paths"]]
    rotated = [f"access.log.{k}.gz" for k in range(DAYS - 1, 1, -1)]
    assert names == rotated + ["access.log.1", "access.log"]
    assert sorted(p.name for p in demo["dir"].iterdir()) == sorted(names)
    assert log_file_names(1) == ["access.log"]
    assert log_file_names(2) == ["access.log.1", "access.log"]
    assert log_file_names(3) == ["access.log.2.gz", "access.log.1", "access.log"]


def test_gz_files_decompress_and_plain_files_are_plain(demo):
    for p in demo["paths"]:
        raw = p.read_bytes()
        if p.name.endswith(".gz"):
            assert raw[:2] == b"\x1f\x8b"
            assert gzip.decompress(raw).endswith(b"\n")
        else:
            assert raw[:2] != b"\x1f\x8b"
            raw.decode("ascii")


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    kw = dict(days=4, utc_offset="+0100", requests_per_day=300)
    pa = generate_demo_logs(a, END, seed=11, **kw)
    pb = generate_demo_logs(b, END, seed=11, **kw)
    pc = generate_demo_logs(c, END, seed=12, **kw)
    assert [p.name for p in pa] == [p.name for p in pb] == [p.name for p in pc]
    for x, y in zip(pa, pb):
        assert x.read_bytes() == y.read_bytes()
    assert any(x.read_bytes() != z.read_bytes() for x, z in zip(pa, pc))


def test_manifest_matches_files_and_independent_count(demo):
    manifest = demo_manifest(END, days=DAYS, utc_offset="+0900", requests_per_day=2500, seed=7)
    assert [m["name"] for m in manifest] == [p.name for p in demo["paths"]]
    for m, f in zip(manifest, demo["files"]):
        counts = expected_counts(f["path"])
        assert m["lines"] == len(f["lines"]) == counts["lines"]
        assert m["malformed"] == len(f["bad"]) == counts["malformed"]
        assert counts["valid"] == len(f["good"])


def test_malformed_share_and_kinds(demo):
    bad = [line for f in demo["files"] for line in f["bad"]]
    total = sum(len(f["lines"]) for f in demo["files"])
    assert 0.0005 <= len(bad) / total <= 0.002
    assert "" in bad  # a blank line
    # a line that does not even start with a client
    assert any(not re.match(r"[0-9a-f:.]+ |\S+\.example\.(com|net|org) ", line)
               for line in bad if line)
    # an unterminated quoted field: an odd number of unescaped quotes
    assert any(len(re.findall(r'(?<!\\)"', line)) % 2 == 1 for line in bad)
    # two records glued together by a lost newline
    assert any(len(re.findall(r"\[\d{2}/[A-Z][a-z]{2}/\d{4}:", line)) == 2 for line in bad)


def test_mtime_is_end_of_local_day(demo):
    tz = timezone(timedelta(hours=9))
    for p, m in zip(demo["paths"], demo_manifest(END, days=DAYS, requests_per_day=2500, seed=7)):
        end = datetime.combine(m["day"], datetime.max.time().replace(microsecond=0), tz)
        assert int(p.stat().st_mtime) == int(end.timestamp())


# --------------------------------------------------------------------------------------
# Demo logs: content
# --------------------------------------------------------------------------------------


def test_timestamps_within_local_day_and_in_order(demo):
    for i, f in enumerate(demo["files"]):
        day = END - timedelta(days=DAYS - 1 - i)
        times = [r.local for r in f["good"]]
        assert times == sorted(times)
        assert {t.date() for t in times} == {day}
        assert {r.offset for r in f["good"]} == {"+0900"}


def test_other_offset_and_small_site(tmp_path):
    paths = generate_demo_logs(tmp_path, date(2024, 12, 31), days=2, utc_offset="-0430",
                               requests_per_day=150, seed=3)
    assert [p.name for p in paths] == ["access.log.1", "access.log"]
    for p, day in zip(paths, (date(2024, 12, 30), date(2024, 12, 31))):
        good, bad = parse(read_lines(p))
        assert len(good) > 100
        assert {r.offset for r in good} == {"-0430"}
        assert {r.local.date() for r in good} == {day}
        assert expected_counts(p)["malformed"] == len(bad)


@pytest.mark.parametrize("offset", ["0900", "+9", "+09:00", "UTC", "+2500"])
def test_bad_offset_rejected(tmp_path, offset):
    with pytest.raises(ValueError):
        generate_demo_logs(tmp_path, END, days=1, utc_offset=offset, requests_per_day=10)
    with pytest.raises(ValueError):
        generate_bench_log(tmp_path / "b.log", 10, utc_offset=offset)


def test_only_documentation_addresses_and_reserved_names(demo):
    hosts = {r.host for r in demo["records"]}
    for f in demo["files"]:
        for line in f["bad"]:
            m = re.match(r"(\S+) ", line)
            if m and host_kind(m[1]) != "name":
                hosts.add(m[1])
    for host in hosts:
        if host_kind(host) == "name":
            assert host.endswith(RESERVED), host
            assert re.fullmatch(r"[a-z0-9.-]+", host), host
        else:
            assert in_nets(host, DOC_NETS), host


def test_ipv6_spread_over_several_48s(demo):
    nets = {ipaddress.ip_network(f"{r.host}/48", strict=False) for r in demo["records"]
            if host_kind(r.host) == "v6"}
    assert len(nets) >= 4
    # compressed forms where '::' falls inside the first three groups occur too
    assert any(r.host.startswith("2001:db8::") for r in demo["records"])


def test_ipv6_share(demo):
    recs = demo["records"]
    share_requests = sum(host_kind(r.host) == "v6" for r in recs) / len(recs)
    visitors = {(r.host, r.ua) for r in recs}
    share_visitors = sum(host_kind(h) == "v6" for h, _ in visitors) / len(visitors)
    assert 0.03 <= share_requests <= 0.07
    assert 0.03 <= share_visitors <= 0.07


def test_host_name_share(demo):
    visitors = {(r.host, r.ua) for r in demo["records"]}
    share = sum(host_kind(h) == "name" for h, _ in visitors) / len(visitors)
    assert 0.015 <= share <= 0.05


def test_bot_share(demo):
    recs = demo["records"]
    assert 0.10 <= sum(r.is_bot for r in recs) / len(recs) <= 0.15
    for f in demo["files"]:
        assert 0.08 <= sum(r.is_bot for r in f["good"]) / len(f["good"]) <= 0.17
    uas = {r.ua for r in recs if r.is_bot}
    for token in BOT_TOKENS:
        assert any(token in ua for ua in uas), token


def test_visitors_return_and_daily_counts(demo):
    seen: set = set()
    for i, f in enumerate(demo["files"]):
        visitors = {(r.host, r.ua) for r in f["good"]}
        assert 150 <= len(visitors) <= 1000
        if i >= 7:
            assert len(visitors & seen) / len(visitors) >= 0.3
        seen |= visitors
    assert len(seen) > 1000


def test_traffic_curve(demo):
    by_hour = Counter(r.local.hour for r in demo["records"])
    night = sum(by_hour[h] for h in range(2, 6)) / 4
    day = sum(by_hour[h] for h in range(10, 17)) / 7
    assert night * 3 < day
    per_day = Counter(r.local.date() for r in demo["records"] if not r.is_bot)
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.1 * sum(weekend) / len(weekend)


def test_pages_assets_and_popularity(demo):
    targets = Counter(r.target.split("?")[0] for r in demo["records"] if r.method == "GET")
    for path in ("/", "/about/", "/favicon.ico", "/robots.txt"):
        assert targets[path] > 0, path
    for ext in (".css", ".js", ".png", ".woff2"):
        assert any(t.endswith(ext) for t in targets), ext
    assert any(re.fullmatch(r"/news/\d{4}/[a-z0-9-]+/", t) for t in targets)
    assert any(t.startswith("/docs/") for t in targets)
    pages = [n for t, n in targets.most_common() if t.endswith("/")]
    assert pages[0] > 5 * pages[len(pages) // 2]  # Zipf-like: a head and a long tail


def test_query_strings(demo):
    queries = [r.target.split("?", 1)[1] for r in demo["records"] if "?" in r.target]
    for key in ("utm_source=", "utm_medium=", "page=", "q=", "session="):
        assert any(key in q for q in queries), key


def test_referrers(demo):
    refs = [r.referer for r in demo["records"]]
    assert Counter(refs).most_common(1)[0][0] == "-" or refs.count("-") > len(refs) * 0.1
    assert any(r.startswith("https://www.example.com/") for r in refs)
    for engine in ("https://www.google.com/search?q=", "https://www.bing.com/search?q=",
                   "https://duckduckgo.com/?q="):
        assert any(r.startswith(engine) for r in refs), engine
    assert any(r.startswith("https://t.co/") for r in refs)
    assert any("facebook.com/" in r for r in refs)
    assert any(re.match(r"https://[a-z]+\.example\.org/", r) for r in refs)


def test_status_methods_and_sizes(demo):
    recs = demo["records"]
    status = Counter(r.status for r in recs)
    assert (status[200] + status[304]) / len(recs) > 0.85
    for code in (301, 302, 404):
        assert status[code] > 0, code
    assert 0 < status[500] + status[503] < 0.01 * len(recs)
    assert all(r.size == "-" for r in recs if r.status == 304 or r.method == "HEAD")
    methods = Counter(r.method for r in recs)
    assert methods["GET"] / len(recs) > 0.9 and methods["HEAD"] > 0 and methods["POST"] > 0
    # broken links: 404s reached from internal pages
    assert any(r.status == 404 and r.referer.startswith("https://www.example.com/") for r in recs)
    # plausible sizes per type: a static asset always has the same size
    sizes = defaultdict(set)
    for r in recs:
        if r.status == 200 and r.method == "GET" and r.target.endswith((".css", ".js", ".woff2")):
            sizes[r.target].add(int(r.size))
    assert sizes and all(len(s) == 1 for s in sizes.values())
    assert all(int(r.size) > 10_000 for r in recs
               if r.status == 200 and r.target.endswith(".js"))


def test_escaped_quotes_and_hostile_lines(demo):
    recs = demo["records"]
    assert any('\\"' in r.ua for r in recs)
    assert any('\\"' in r.request for r in recs)
    targets = [r.target for r in recs]
    assert any("<script>alert(1)</script>" in t for t in targets)
    assert any("%3Cscript%3E" in t for t in targets)
    assert any("UNION%20SELECT" in t or "'+OR+'" in t for t in targets)


# --------------------------------------------------------------------------------------
# expected_counts
# --------------------------------------------------------------------------------------

VALID = ('192.0.2.1 - - [01/Feb/2025:10:00:00 +0000] "GET /a?q=\\"x\\" HTTP/1.1" 200 12 '
         '"-" "Mozilla/5.0 \\"Q\\""')


@pytest.mark.parametrize("gz", [False, True])
def test_expected_counts_by_hand(tmp_path, gz):
    text = "\n".join([
        VALID,
        "",
        VALID[:40],
        VALID[:-1],                          # unterminated user agent
        VALID + VALID,                       # glued
        VALID.replace(" 12 ", " "),          # missing size
        VALID,                               # the last line has no newline
    ])
    path = tmp_path / ("x.log.gz" if gz else "x.log")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    assert expected_counts(path) == {"lines": 7, "valid": 2, "malformed": 5}
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert expected_counts(empty) == {"lines": 0, "valid": 0, "malformed": 0}


# --------------------------------------------------------------------------------------
# Benchmark logs
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.log"
    start = datetime(2025, 2, 3, 0, 0, 0)
    info = generate_bench_log(path, 40_000, seed=5, start=start, utc_offset="+0200", days=2)
    lines = read_lines(path)
    good, bad = parse(lines)
    return {"path": path, "info": info, "lines": lines, "good": good, "bad": bad, "start": start}


def test_bench_exact_counts(bench):
    info = bench["info"]
    assert set(info) == {"lines", "malformed", "bytes"}
    assert info["lines"] == len(bench["lines"]) == 40_000
    assert info["malformed"] == len(bench["bad"]) == expected_counts(bench["path"])["malformed"]
    assert 10 <= info["malformed"] <= 80
    assert info["bytes"] == bench["path"].stat().st_size


def test_bench_deterministic(tmp_path, bench):
    again = tmp_path / "again.log"
    generate_bench_log(again, 40_000, seed=5, start=bench["start"], utc_offset="+0200", days=2)
    assert again.read_bytes() == bench["path"].read_bytes()
    other = tmp_path / "other.log"
    generate_bench_log(other, 40_000, seed=6, start=bench["start"], utc_offset="+0200", days=2)
    assert other.read_bytes() != bench["path"].read_bytes()


def test_bench_times_in_order_and_range(bench):
    times = [r.local for r in bench["good"]]
    assert times == sorted(times)
    assert times[0] >= bench["start"] and times[-1] < bench["start"] + timedelta(days=2)
    assert {t.date() for t in times} == {date(2025, 2, 3), date(2025, 2, 4)}
    assert {r.offset for r in bench["good"]} == {"+0200"}
    by_hour = Counter(t.hour for t in times)
    assert sum(by_hour[h] for h in range(2, 6)) * 3 < sum(by_hour[h] for h in range(10, 14))


def test_bench_clients(bench):
    recs = bench["good"]
    hosts = Counter(r.host for r in recs)
    for host in hosts:
        if host_kind(host) == "name":
            assert host.endswith(RESERVED), host
        else:
            assert in_nets(host, BENCH_NETS), host
    assert len(hosts) > 2_000
    assert 0.03 <= sum(n for h, n in hosts.items() if host_kind(h) == "v6") / len(recs) <= 0.08
    assert 0.08 <= sum(r.is_bot for r in recs) / len(recs) <= 0.17
    assert hosts.most_common(1)[0][1] < 0.05 * len(recs)
    assert any('\\"' in r.ua for r in recs)
    assert any(r.size == "-" for r in recs if r.status == 304)


def test_bench_aware_start_is_converted(tmp_path):
    path = tmp_path / "tz.log"
    start = datetime(2025, 5, 1, 22, 0, tzinfo=timezone.utc)
    generate_bench_log(path, 2_000, seed=2, start=start, utc_offset="+0900")
    good, _ = parse(read_lines(path))
    assert good[0].local >= datetime(2025, 5, 2, 7, 0)
    assert good[-1].local < datetime(2025, 5, 3, 7, 0)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.integers(0, 3_000), seed=st.integers(0, 2**31), days=st.integers(1, 3))
def test_bench_counts_property(tmp_path, lines, seed, days):
    path = tmp_path / f"p-{lines}-{seed}-{days}.log"
    info = generate_bench_log(path, lines, seed=seed, days=days)
    counts = expected_counts(path)
    assert counts["lines"] == info["lines"] == lines
    assert counts["malformed"] == info["malformed"]
    assert info["bytes"] == path.stat().st_size

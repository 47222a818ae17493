"""Log formats (pipelines.formats, patterns, apache): Apache LogFormat compilation into
≤4-group RE2 patterns, presets, errors for what is not supported, and reject diagnoses.
Presets of every kind, their examples and the real-world samples are at the end; the nginx,
W3C and JSON compilers have their own modules (test_nginx, test_w3c, test_jsonlog)."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from parse_kit import python_regex

from pipelines.errors import InputError
from pipelines.formats import CANONICAL, PRESETS, Field, RegexFormat, compile_apache, get_format
from pipelines.parse import sql_str

LOGS = Path(__file__).parent / "data" / "logs"
REGEX_PRESETS = [n for n in PRESETS if isinstance(get_format(n), RegexFormat)]
APACHE_PRESETS = [n for n in PRESETS if str(PRESETS[n].spec).startswith("apache:")]
CUSTOM = [
    "apache:%h %l %u %t \"%r\" %>s %b",
    "apache:%v %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" %D \"%{X-Forwarded-For}i\"",
    "apache:%h %l %u %t %r %>s %b %{Referer}i %{User-Agent}i",  # unquoted request: spaces inside
    "apache:%a %t \"%m %U%q %H\" %s %B %{ms}T",
    "apache:[%t] %h \"%r\" %>s",
]


def re2_extract(fmt: RegexFormat, lines: list[str]) -> list[dict[str, str] | None]:
    """Run the compiled patterns in DuckDB (RE2) the way parse.py does: None when no match."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (n INTEGER, line VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(lines)))
    selects = [f"regexp_extract(line, {sql_str(p)}, [{', '.join(sql_str(n) for n in names)}])"
               for p, names in fmt.patterns]
    rows = con.execute(f"SELECT {', '.join(selects)} FROM t ORDER BY n").fetchall()
    out: list[dict[str, str] | None] = []
    for row in rows:
        merged: dict[str, str] = {}
        for struct in row:
            merged.update(struct)
        out.append(merged if merged[fmt.sentinel] != "" else None)
    return out


def oracle(fmt: RegexFormat, line: str) -> dict[str, str] | None:
    m = python_regex(fmt).match(line)
    return None if m is None else {k: v for k, v in m.groupdict().items()}


# --------------------------------------------------------------------------- compilation

@pytest.mark.parametrize("name", [*REGEX_PRESETS, *CUSTOM])
def test_every_pattern_has_at_most_four_groups(name):
    fmt = get_format(name)
    names = [n for _, group in fmt.patterns for n in group if n != "__end"]
    assert sorted(names) == sorted(f.name for f in fmt.captured)  # each field captured once
    for pattern, group in fmt.patterns:
        compiled = re.compile(pattern)
        assert compiled.groups == len(group) <= 4, pattern
        assert pattern.startswith("^")
    assert fmt.patterns[-1][0].endswith(r"\r?\n?$")  # the last one spans the whole line
    assert fmt.sentinel in fmt.patterns[-1][1]
    assert set(names) <= set(CANONICAL)


@pytest.mark.parametrize("name", APACHE_PRESETS)
def test_preset_prefix_patterns_stop_early(name):
    # only the last pattern needs to read the whole line (../shared/PERF-NOTES.md)
    for pattern, _ in get_format(name).patterns[:-1]:
        assert not pattern.endswith("$"), pattern
        assert "(?: [^\\r\\n]*)?" not in pattern


@pytest.mark.parametrize("name", APACHE_PRESETS)
def test_presets_compile_from_their_apache_strings(name):
    fmt = get_format(name)
    assert fmt.name == name
    assert "apache:" + fmt.source == PRESETS[name].spec
    assert "time" in {f.name for f in fmt.captured}


def test_preset_fields():
    def fields(name: str) -> list[str]:
        return [f.name for f in get_format(name).captured]

    common = ["client", "remote_user", "time", "request", "status", "bytes"]
    assert fields("common") == common
    assert fields("combined") == common + ["referrer", "user_agent"]
    assert fields("vhost_combined") == ["vhost"] + common + ["referrer", "user_agent"]
    assert fields("combined_D") == common + ["referrer", "user_agent", "time_us"]
    assert fields("combined_T") == common + ["referrer", "user_agent", "time_s"]


@pytest.mark.parametrize("name", [*REGEX_PRESETS, *CUSTOM])
def test_prefix_patterns_agree_with_one_whole_line_regex(name):
    fmt = get_format(name)
    fixture = LOGS / f"{name}.log"
    lines = fixture.read_text().splitlines(keepends=True) if fixture.exists() else []
    lines += [PRESETS[name].example + "\n"] if name in PRESETS else []
    lines += [
        '192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] "GET /a 404 HTTP/1.1" 200 5 "-" "x"\n',
        'www.example.com 192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET /a b HTTP/1.1 200 5 - x\n',
        "192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET / HTTP/1.1 200 5 http://x/ curl/8\n",
        '[10/Nov/2026:10:00:00 +0000] 192.0.2.1 "GET / HTTP/1.1" 200\n',
        '192.0.2.1 [10/Nov/2026:10:00:00 +0000] "GET /p?q=1 HTTP/1.1" 200 5 12\n',
    ]
    got = re2_extract(fmt, lines)
    for line, extracted in zip(lines, got):
        expected = oracle(fmt, line)
        if expected is None:
            assert extracted is None, line
        else:
            assert extracted is not None, line
            assert {k: extracted[k] for k in expected} == expected, line


def test_unquoted_request_keeps_its_spaces():
    # an unquoted %r can only be delimited by what follows it on the whole line
    fmt = get_format("apache:%h %l %u %t %r %>s %b %{Referer}i %{User-Agent}i")
    line = "192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET /x HTTP/1.1 200 5 http://a/ curl/1\n"
    (got,) = re2_extract(fmt, [line])
    assert got is not None
    assert got["request"] == "GET /x HTTP/1.1"
    assert got["status"] == "200"


def test_header_fields_and_modifiers():
    fmt = compile_apache('%h %{X-Forwarded-For}i %{Cookie}i "%{user-agent}i" %<s %s %>s %t')
    names = [t.name if isinstance(t, Field) else None for t in fmt.tokens]
    assert "forwarded_for" in names and "user_agent" in names
    assert [t.directive for t in fmt.tokens if isinstance(t, Field) and t.name == "skip"] == ["%{Cookie}i"]
    assert [t.directive for t in fmt.tokens if isinstance(t, Field) and t.name == "status"] == ["%<s", "%s", "%>s"]


def test_percent_literal():
    fmt = compile_apache("%h 100%% %t")
    assert fmt.tokens[0].name == "client"
    assert " 100% [" in "".join(t for t in fmt.tokens if isinstance(t, str))
    (got,) = re2_extract(fmt, ["192.0.2.1 100% [10/Nov/2026:10:00:00 +0000]\n"])
    assert got == {"client": "192.0.2.1", "time": "10/Nov/2026:10:00:00 +0000"}


@pytest.mark.parametrize("fmt, named", [
    ("%h %t %Z", "%Z"),
    ("%h %t %{X}C", "%{X}C"),
    ("%h %{%d/%b/%Y %Q}t", "%{%d/%b/%Y %Q}t"),
    ("%h %{msecs}t", "%{msecs}t"),
    ("%h %t %f", "%f"),
])
def test_unsupported_directive_is_named(fmt, named):
    with pytest.raises(InputError) as err:
        compile_apache(fmt)
    assert repr(named) in str(err.value) or named in str(err.value)
    assert "not supported" in str(err.value)


def test_stray_percent_and_missing_time():
    with pytest.raises(InputError, match="has a '%' that is not a known directive"):
        compile_apache("%h %t %5")
    with pytest.raises(InputError, match=r"has no time field \(%t\)"):
        compile_apache("%h %>s")


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        get_format("combind")
    message = str(err.value)
    assert "Unknown log format 'combind'" in message
    for name in PRESETS:
        assert name in message
    assert "apache:<LogFormat>" in message


def test_apache_prefix_gives_a_custom_format():
    fmt = get_format('apache:%h %t "%r" %>s')
    assert fmt.name == "apache-custom"
    assert fmt.source == '%h %t "%r" %>s'


# --------------------------------------------------------------------------- diagnoses

@pytest.mark.parametrize("line, reason", [
    ("\n", "blank line"),
    ("   \r\n", "blank line"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"192.0.2.2 - -\n',
     "unexpected text after the last field"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /u HTTP/1.1 200 1 "-" "-"\n',
     "field 'request' is malformed or not followed by '\" '"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /s HTTP/1.1" 200\n',
     "line ends after field 'status' (fields missing)"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /s HTTP/1.1" 200 ',
     "line ends after ' ' (fields missing)"),
    ('192.0.2.1 - - 10/Nov/2026:12:00:00 +0000 "GET / HTTP/1.1" 200 1 "-" "-"\n',
     "field 'remote_user' is malformed or not followed by ' ['"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-"\n',
     "field 'status' is malformed or not followed by ' '"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "Googlebot\n',
     "field 'user_agent' has no closing quote"),
    ("garbage\n", "line ends after field 'client' (fields missing)"),
    ("garbage and more text\n", "field 'remote_user' is malformed or not followed by ' ['"),
])
def test_diagnose_names_the_first_failing_field(line, reason):
    got = get_format("combined").diagnose(line)
    assert got.endswith(reason), got
    if reason != "blank line":
        assert got.startswith("does not match format combined: ")


def test_diagnose_never_quotes_the_line():
    line = '198.51.100.7 - - [10/Nov/2026:12:00:00 +0000] "GET /secret HTTP/1.1" 2000 1 "-" "-"\n'
    reason = get_format("combined").diagnose(line)
    assert "198.51.100.7" not in reason and "/secret" not in reason


# --------------------------------------------------------------------------- presets

import datetime as dt  # noqa: E402

from test_parse import check, parse  # noqa: E402

from pipelines import lines as lines_mod  # noqa: E402

UTC = dt.datetime


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_example_parses(name):
    example = [line + "\n" for line in PRESETS[name].example.split("\n")]
    rows = parse(name, example)
    data = [r for r in rows if r["reject"] != "W3C directive line"]
    assert data and all(r["reject"] is None for r in data), rows
    for row in data:  # the examples all describe the same request
        check(row, client="192.0.2.10", status=200)
        assert row["url"].startswith("/docs/")
        assert row["ts"].replace(microsecond=0) == UTC(2026, 11, 10, 8, 34, 56)


def test_every_preset_has_a_description_and_an_example():
    for preset in PRESETS.values():
        assert preset.description.strip() and preset.example.strip(), preset.name


# load balancers and S3, from fixtures

def test_alb_fixture():
    a, b = parse("alb", fixture_lines("alb.log"))
    check(a, client="192.0.2.10", ts=UTC(2026, 11, 10, 8, 34, 56, 123456),  # ...Z: UTC
          vhost="www.example.com", method="GET", url="/docs/?p=1", protocol="HTTP/1.1",
          status=200, bytes=5120, time_served_ms=12.0,  # target_processing_time
          request="GET https://www.example.com:443/docs/?p=1 HTTP/1.1")
    # not forwarded to a target: processing times -1 mean "not measured"
    check(b, client="[2001:db8::20]", vhost="2001:db8::1", url="/%24%7Bjndi", status=404,
          time_served_ms=None, protocol="HTTP/2.0")


def test_elb_fixture():
    a, tcp = parse("elb", fixture_lines("elb.log"))
    check(a, client="192.0.2.10", vhost="www.example.com", url="/docs/?p=1", status=200,
          bytes=5120, time_served_ms=12.0)  # backend_processing_time
    assert tcp["reject"] == "does not match format elb"  # a TCP listener's line
    assert get_format("elb").diagnose(fixture_lines("elb.log")[1]).endswith(
        "field 'status' is malformed")


def test_haproxy_fixture():
    a, b, started, tcp = parse("haproxy", fixture_lines("haproxy.log"))
    check(a, client="192.0.2.10", ts=UTC(2026, 11, 10, 8, 34, 56, 123000), method="GET",
          url="/docs/?p=1", status=200, bytes=5120, time_served_ms=12.0)
    # no syslog header, IPv6 without brackets, logasap '+', captured headers
    check(b, client="2001:db8::10", status=404, bytes=448, time_served_ms=31.0)
    assert started["reject"] == "not an access log record"
    assert tcp["reject"] == "does not match format haproxy"


def test_haproxy_time_is_site_local():
    line = fixture_lines("haproxy.log")[0]
    (row,) = parse("haproxy", [line], "Europe/Berlin")
    check(row, ts=UTC(2026, 11, 10, 7, 34, 56, 123000))


def test_s3_fixture():
    (a,) = parse("s3", fixture_lines("s3.log"))
    check(a, client="192.0.2.10", remote_user="arn:aws:iam::123456789012:user/alice",
          vhost="www.example.com", ts=UTC(2026, 11, 10, 8, 34, 56), url="/docs/?p=1",
          status=200, bytes=5120, time_served_ms=12.0, referrer="https://www.example.org/")


def test_apache_time_formats():
    fmt = get_format('apache:%h [%{%d/%b/%Y %H:%M:%S}t.%{msec_frac}t %{%z}t] "%r" %>s')
    assert [f.name for f in fmt.captured] == ["client", "time", "request", "status"]
    (row,) = parse(fmt, ['192.0.2.1 [10/Nov/2026 09:34:56.250 +0100] "GET / HTTP/1.1" 200\n'])
    check(row, ts=UTC(2026, 11, 10, 8, 34, 56, 250000))
    (row,) = parse("apache:%h %{sec}t \"%r\" %>s", ['192.0.2.1 1794299696 "GET / HTTP/1.1" 200\n'])
    check(row, ts=UTC(2026, 11, 10, 8, 34, 56))
    (row,) = parse("apache:%h %{msec}t \"%r\" %>s", ['192.0.2.1 1794299696250 "GET / HTTP/1.1" 200\n'])
    check(row, ts=UTC(2026, 11, 10, 8, 34, 56, 250000))
    with pytest.raises(InputError, match="time fields"):
        compile_apache("%h %t %{sec}t")


def test_apache_peer_and_header_chain():
    fmt = compile_apache('%{c}a %a %t "%r"')
    assert [f.name for f in fmt.captured] == ["client", "forwarded_for", "time", "request"]
    fmt = compile_apache('%{c}a %a %t "%r" "%{X-Forwarded-For}i"')
    assert [f.name for f in fmt.captured] == ["client", "time", "request", "forwarded_for"]
    fmt = compile_apache('%h %t "%r" "%{Forwarded}i" "%{SSL_PROTOCOL}e" "%{note}n"')
    assert [f.name for f in fmt.captured] == ["client", "time", "request", "forwarded_for"]


def fixture_lines(name: str) -> list[str]:
    return (LOGS / name).read_text(encoding="utf-8").splitlines(keepends=True)


# --------------------------------------------------------------------------- real world

def realworld_lines(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        stream, _ = lines_mod.open_decompressed(handle)
        stats = lines_mod.ReadStats()
        return [ln for chunk in lines_mod.iter_chunks(stream, stats)
                for ln in chunk.table.column("line").to_pylist()]


def parsed(realworld: Path, rel: str, fmt: str, timezone: str = "UTC") -> list[dict]:
    return [r for r in parse(fmt, realworld_lines(realworld / "logs" / rel), timezone)
            if r["reject"] is None]


CHROME17 = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/535.11 (KHTML, like Gecko) "
            "Chrome/17.0.963.56 Safari/535.11")
# ../shared/realworld/EXPECTED.md 2.2: the first line of most Matomo samples (16:42:07 -0500)
MATOMO_COMMON = dict(client="1.2.3.4", remote_user="theuser", ts=UTC(2012, 2, 10, 21, 42, 7),
                     url="/", status=301, bytes=368)


@pytest.mark.parametrize("rel, fmt, expected", [
    ("formats/common.log", "common", MATOMO_COMMON),
    ("formats/ncsa_extended.log", "common", MATOMO_COMMON),  # common reads a combined line
    ("formats/ncsa_extended.log", "combined", {**MATOMO_COMMON, "referrer": None,
                                               "user_agent": CHROME17}),
    ("formats/common_vhost.log", "common_vhost", {**MATOMO_COMMON, "vhost": "www.example.com"}),
    ("formats/common_complete.log", "common_complete",
     {**MATOMO_COMMON, "vhost": "www.example.com", "user_agent": CHROME17}),
    ("formats/ovh.log", "ovh", {**MATOMO_COMMON, "vhost": "www.example.com"}),
    ("formats/gandi.log", "gandi", {**MATOMO_COMMON, "vhost": "www.example.com"}),
    ("formats/icecast2.log", "combined_T", {**MATOMO_COMMON, "time_served_ms": 1807000.0}),
    ("formats/s3.log", "s3", {"vhost": "www.example.com", "ts": UTC(2012, 2, 10, 21, 42, 7),
                              "client": "1.2.3.4", "url": "/index", "status": 200, "bytes": 368,
                              "remote_user": "arn:aws:iam::179580289999:user/phillip.boss",
                              "referrer": None, "user_agent": CHROME17}),
    ("formats/iis.log", "w3c", {"ts": UTC(2012, 4, 1, 0, 0, 13), "client": "1.2.3.4",
                                "url": "/foo/bar?topCat1=divinity&submit=Search",
                                "referrer": None, "status": 200, "bytes": 27028,
                                "vhost": "example.com", "remote_user": "theuser",
                                "time_served_ms": 1687.0,  # IIS: milliseconds
                                "user_agent": "Mozilla/5.0+(X11;+U;+Linux+i686;+en-US;+rv:1.9.2.7)"
                                              "+Gecko/20100722+Firefox/3.6.7"}),
    ("formats/nginx_json.log", "nginx_json", {
        "vhost": "www.piwik.org", "status": 200, "client": "1.2.3.4", "bytes": 192,
        "ts": UTC(2013, 10, 10, 14, 52), "user_agent": "Mozilla/5.0 (Windows NT 6.1; WOW64) "
        "AppleWebKit/537.17 (KHTML, like Gecko) Chrome/24.0.1312.57 Safari/537.17"}),
    ("formats/caddy_json.log", "caddy", {
        "ts": UTC(2023, 12, 23, 23, 17, 54, 815561), "time_served_ms": 1.3354860000000002,
        "vhost": "example.com", "client": "1.2.3.4", "bytes": 3609, "method": "GET",
        "url": "/beta/", "referrer": None, "status": 200, "remote_user": None,
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) "
                      "Gecko/20100101 Firefox/121.0"}),
    ("formats/traefik_json.log", "traefik_json", {
        "vhost": "localhost", "client": "1.2.3.4", "bytes": 15, "method": "GET",
        "url": "/my/app/auth?id=1234&user=dude", "referrer": "www.example.com",
        "status": 200,  # DownstreamStatus, not OriginStatus 504
        "remote_user": None, "user_agent": "Prometheus/2.40.5",
        "time_served_ms": 10002.425284}),  # Duration 10002425284 ns
    ("formats/haproxy.log", "haproxy", {"client": "4.3.2.1", "url": "/user/", "status": 200,
                                        "bytes": 7456, "method": "POST",
                                        "ts": UTC(2018, 9, 25, 6, 5, 27, 584000)}),
    ("formats/elb.log", "elb", {"status": 200, "client": "1.2.3.4", "url": "/path/index.html",
                                "bytes": 57, "time_served_ms": 1.048, "referrer": None,
                                "ts": UTC(2015, 5, 13, 23, 39, 43, 945958),
                                "user_agent": CHROME17}),
    ("formats/alb.log", "alb", {"status": 200, "client": "1.2.3.4", "url": "/path/index.html",
                                "bytes": 24950, "time_served_ms": 102.0,
                                "ts": UTC(2020, 1, 1, 0, 55, 4, 127531)}),
    ("formats/amazon_cloudfront_web.log", "cloudfront", {
        "status": 200, "client": "192.0.2.10", "ts": UTC(2014, 5, 23, 1, 13, 11),
        "url": "/view/my/file.html", "referrer": "https://example.com/", "method": "GET",
        "time_served_ms": 1.0, "user_agent": "Mozilla/5.0 (Windows; U; Windows NT 6.1; de-DE) "
        "AppleWebKit/534.17 (KHTML, like Gecko) Chrome/10.0.649.0 Safari/534.17"}),
    ("formats/netscaler.log", "w3c", {
        "client": "172.20.1.0", "ts": UTC(2012, 8, 16, 11, 55, 13), "status": 302,
        "url": "/Citrix/XenApp/Wan/auth/login.jsp", "time_served_ms": 1000.0,  # seconds
        "user_agent": "Mozilla/4.0+(compatible;+MSIE+7.0;+Windows+NT+5.1;+Trident/4.0;+.NET+CLR"
                      "+1.1.4322;+.NET+CLR+2.0.50727;+.NET+CLR+3.0.04506.648;+.NET+CLR+3.5.21022)"}),
    ("formats/shoutcast.log", "w3c", {
        "client": "1.2.3.4", "ts": UTC(2015, 12, 7, 10, 37, 5), "url": "/stream?title=UKR%20Nights",
        "status": 200, "bytes": 65580, "time_served_ms": 1000.0,
        "user_agent": "NSPlayer/10.0.0.3702 WMFSDK/10.0"}),
    ("formats/splitted_date_and_time.log", "w3c", {
        "client": "1.2.3.4", "ts": UTC(2015, 12, 7, 10, 37, 5), "url": "/stream?title=UKR%20Nights",
        "status": 200, "bytes": 65580, "time_served_ms": 1000.0}),
    ("formats/common.log.gz", "common", {"client": "1.2.3.5", "url": "/form", "status": 200,
                                         "bytes": 145, "remote_user": "admin"}),
    ("formats/common.log.bz2", "common", {"client": "1.2.3.7", "url": "/", "status": 200,
                                          "bytes": 444, "remote_user": "theboss"}),
    ("formats/custom_regex_custom_date.log", 'apache:%h %l %u [%{%B - %d, %Y:%H:%M:%S}t] "%r" %>s %b',
     {"client": "1.2.3.4", "ts": UTC(2012, 2, 10, 16, 42, 7), "status": 301}),
])
def test_matomo_first_lines(realworld, rel, fmt, expected):
    """EXPECTED.md 2.2 and 2.3 (values Matomo's suite asserts), on our canonical columns."""
    check(parsed(realworld, rel, fmt)[0], **expected)


def test_matomo_hit_counts(realworld):
    """EXPECTED.md 2.3: how many lines each sample yields, and the later hits' values."""
    counts = {rel: len(parsed(realworld, f"formats/{rel}", fmt)) for rel, fmt in [
        ("elb.log", "elb"), ("alb.log", "alb"), ("amazon_cloudfront_web.log", "cloudfront"),
        ("amazon_cloudfront_rtmp.log", "cloudfront"), ("ovh.log", "ovh"), ("gandi.log", "gandi"),
        ("incapsula_w3c.log", "w3c"), ("iis_custom.log", "w3c"), ("caddy_json.log", "caddy"),
        ("logs_to_tests.log", "combined")]}
    assert counts == {"elb.log": 1, "alb.log": 1, "amazon_cloudfront_web.log": 1,
                      "amazon_cloudfront_rtmp.log": 2, "ovh.log": 1, "gandi.log": 2,
                      "incapsula_w3c.log": 2, "iis_custom.log": 3, "caddy_json.log": 3,
                      "logs_to_tests.log": 4}  # 3 tracker hits + the HEAD line
    _, g1 = parsed(realworld, "formats/gandi.log", "gandi")
    check(g1, client="125.125.125.125", remote_user=None, status=200, bytes=1124,
          referrer="https://www.example.com/",
          user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10.13; rv:90.0) Gecko/20100101 Firefox/90.0")
    i0, i1 = parsed(realworld, "formats/incapsula_w3c.log", "w3c")
    check(i0, client="123.123.123.123", ts=UTC(2017, 6, 28, 7, 26, 35), vhost="www.example.com",
          url="/page.php?variable=test", status=200, method="GET")
    check(i1, client="125.125.125.125", ts=UTC(2017, 6, 26, 18, 21, 17), url="/rss/news",
          status=None)  # sc-status is "" (Matomo assumes 200)
    c0, c1, c2 = parsed(realworld, "formats/iis_custom.log", "w3c")
    check(c0, client="70.95.0.0", ts=UTC(2012, 8, 15, 17, 0, 0, 363000),  # fraction kept
          url="/Products/theProduct", status=200, time_served_ms=109.0,
          referrer="http://example.com/Search/SearchResults.pg?informationRecipient.languageCode.c=en")
    check(c1, client=None, status=301, time_served_ms=0.0)
    check(c2, client="173.5.0.0", status=404, url="/hello/world/6,681965", time_served_ms=359.0)
    r0, r1 = parsed(realworld, "formats/amazon_cloudfront_rtmp.log", "cloudfront")
    check(r0, client="192.0.2.147", ts=UTC(2010, 3, 12, 23, 51, 20), url="/cfx/st\u200b?key=value",
          user_agent="LNX 10,0,32,18", status=None)
    check(r1, client="192.0.2.222", ts=UTC(2010, 3, 12, 23, 51, 21), bytes=3914)
    *_, head = parsed(realworld, "formats/logs_to_tests.log", "combined")
    check(head, client="95.81.66.139", method="HEAD", status=403, bytes=0)


def test_lnav_shop_log_is_nginx_main(realworld):
    """EXPECTED.md 5: 1,000 lines of combined + one quoted field (X-Forwarded-For)."""
    rows = parse("nginx_main", realworld_lines(realworld / "logs/more/lnav/logfile_shop_access_log.0"))
    assert len(rows) == 1000 and all(r["reject"] is None for r in rows)
    status: dict[int, int] = {}
    methods: dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    assert status == {200: 938, 301: 11, 302: 20, 304: 7, 404: 24}
    assert methods == {"GET": 976, "POST": 14, "HEAD": 10}
    assert {r["protocol"] for r in rows} == {"HTTP/1.1"}
    assert len({r["client"] for r in rows}) == 101
    assert sum(r["forwarded_for"] == "103.28.132.65" for r in rows) == 13
    assert sum(r["forwarded_for"] is None for r in rows) == 987
    assert min(r["ts"] for r in rows) == UTC(2019, 1, 22, 0, 26, 14)  # 03:56:14 +0330


def test_lnav_w3c_files(realworld):
    big = parse("w3c", realworld_lines(realworld / "logs/more/lnav/logfile_w3c_big.0"))
    assert len(big) == 254
    assert sum(r["reject"] == "W3C directive line" for r in big) == 44
    data = [r for r in big if r["reject"] is None]
    assert len(data) == 210
    assert sum(r["client"] == "183.60.244.30" for r in data) == 192
    assert sorted({(s, sum(r["status"] == s for r in data)) for s in (200, 404)}) == [
        (200, 8), (404, 202)]
    (_, row) = parse("w3c", realworld_lines(realworld / "logs/more/lnav/logfile_w3c.5"))
    assert row["reject"] == "17 values where the #Fields header lists 6"
    oracle = parse("w3c", realworld_lines(realworld / "logs/more/lnav/logfile_w3c.1"))[-1]
    check(oracle, client="64.103.37.2", remote_user="DMS.user", status=200, bytes=350,
          ts=UTC(2001, 10, 31, 8, 0, 18))  # #GMT-Offset: -0800
    ftp = [r for r in parse("w3c", realworld_lines(realworld / "logs/more/lnav/logfile_w3c.2"))
           if r["reject"] is None]
    assert len(ftp) == 14 and ftp[0]["ts"] == UTC(2000, 10, 9, 16, 44, 49)  # day from #Date


def test_lnav_caddy_and_haproxy(realworld):
    caddy = parsed(realworld, "more/lnav/logfile_caddy_log.1", "caddy")
    assert len(caddy) == 4
    assert caddy[3]["client"] == "240e:1:1::1234"
    assert [r["client"] for r in caddy[:3]] != ["10.5.1.1"] * 3  # client_ip, not the proxy
    rows = parse("haproxy", realworld_lines(realworld / "logs/more/lnav/logfile_haproxy.0"))
    assert len(rows) == 17
    assert sum(r["reject"] is None for r in rows) == 13
    assert sum(r["reject"] == "not an access log record" for r in rows) == 4


def test_filebeat_samples(realworld):
    """EXPECTED.md 4: IIS blocks and odd client fields; ingress-nginx lists."""
    iis = parse("w3c", realworld_lines(realworld / "logs/more/filebeat/iis/access/test.log"))
    data = [r for r in iis if r["reject"] != "W3C directive line"]
    assert [r["reject"] for r in data] == [None, None, None,
                                           "15 values where the #Fields header lists 22",
                                           "15 values where the #Fields header lists 22"]
    check(data[0], client="81.2.69.143", url="/?q=100", status=200, time_served_ms=123.0)
    v75 = parsed(realworld, "more/filebeat/iis/access/test-iis-7.5.log", "w3c")
    assert v75[0]["client"] == "[10.100.118.31](http://10.100.118.31)"  # kept as logged
    assert v75[-1]["client"] == "2001:cdba:0000:0000:0000:0000:3257:9652"
    (zone,) = parsed(realworld, "more/filebeat/iis/access/test-ipv6zone.log", "w3c")
    assert zone["client"] == "::1%0"
    fields = ("w3c:date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken "
              "X-Forwarded-For")
    xff = parsed(realworld, "more/filebeat/iis/access/test-x-forward-for.log", fields)
    assert xff and {r["forwarded_for"] for r in xff} == {"192.168.198.23"}
    ingress = parse("nginx_ingress",
                    realworld_lines(realworld / "logs/more/filebeat/nginx/ingress_controller/test.log"))
    assert len(ingress) == 29 and all(r["reject"] is None for r in ingress)
    assert sorted(r["method"] for r in ingress if r["status"] == 400) == ["PATCHp", "geti"]
    hosts = parse('nginx:$host $remote_addr - $remote_user [$time_local] "$request" $status '
                  '$body_bytes_sent "$http_referer" "$http_user_agent"',
                  realworld_lines(realworld / "logs/more/filebeat/nginx/access/test-with-host.log"))
    clients = {r["client"]: r for r in hosts if r["reject"] is None}
    assert {"81.2.69.143", "127.0.0.1", "unix:", "localhost"} <= set(clients)
    check(clients["81.2.69.143"], vhost="example.com:80", ts=UTC(2016, 12, 7, 10, 5, 7))
    check(clients["unix:"], status=400, request="hello", method=None, url=None, bytes=173)
    haproxy = parsed(realworld, "more/filebeat/haproxy/log/haproxy.log", "haproxy")
    assert len(haproxy) == 10 and haproxy[1]["client"] is None  # '-:22222'
    assert parse("haproxy", realworld_lines(
        realworld / "logs/more/filebeat/haproxy/log/default.log"))[0]["reject"] == \
        "not an access log record"


# --------------------------------------------------------------------------- property

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipelines.parse import COLUMNS  # noqa: E402

_PIECES = st.sampled_from(['"', "\\", "[", "]", " ", "-", ":", "/", "{", "}", "192.0.2.1",
                           "2001:db8::1", "200", "\t", "é", "\\x22", "Z", "+0000", "\r"])


@st.composite
def mutated(draw, example: str) -> str:
    """An example line with a few pieces cut out or replaced by tricky characters."""
    text = example
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 12)))
        text = text[:i] + draw(st.lists(_PIECES, max_size=3).map("".join)) + text[j:]
    return text.replace("\n", " ")


@pytest.mark.parametrize("name", REGEX_PRESETS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_regex_presets_never_raise_and_give_one_row_per_line(name, data):
    example = PRESETS[name].example
    lines = data.draw(st.lists(st.one_of(mutated(example), st.text(max_size=60)),
                               min_size=1, max_size=6))
    lines = [ln.replace("\n", " ") + "\n" for ln in lines]
    rows = parse(name, lines)
    assert [r["line_no"] for r in rows] == list(range(1, len(lines) + 1))
    for line, row in zip(lines, rows):
        if row["reject"] is not None:
            assert all(row[c] is None for c in COLUMNS[2:])
            if row["reject"].startswith("does not match format"):  # ingest asks why
                assert get_format(name).diagnose(line).startswith(row["reject"])
        else:
            assert row["ts"] is not None

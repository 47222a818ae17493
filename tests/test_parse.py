"""Vectorised parsing (pipelines.parse): canonical columns of every preset, field by field,
on the fixture logs under tests/data/logs/, UTC instants, rejects, and a property test
against an independent one-regex-per-line oracle."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from parse_kit import python_regex

from pipelines.formats import APACHE_TIME, Field, RegexFormat, get_format
from pipelines.parse import (COLUMNS, METHOD_RE, PROTOCOL_RE, REQUEST_RE, LogFormat, parse_sql,
                             sql_str, ts_expr, utc_wall)

LOGS = Path(__file__).parent / "data" / "logs"
UTC = dt.timezone.utc


def parse(fmt: str | LogFormat, lines: list[str], timezone: str = "UTC") -> list[dict]:
    """parse_sql over `lines` in a real DuckDB, one dict per output row, in line order
    (the lines are one chunk: W3C formats are bound to it as ingest does)."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as warehouse.connect does
    table = pa.table({"line_no": pa.array(range(1, len(lines) + 1), pa.int64()),
                      "line": pa.array(lines, pa.large_string())})
    bound, _ = fmt.bind(table, None)
    con.register("chunk_lines", table)
    cur = con.execute(parse_sql(bound, "chunk_lines", timezone) + " ORDER BY line_no")
    names = [d[0] for d in cur.description]
    assert tuple(names) == COLUMNS
    return [dict(zip(names, row)) for row in cur.fetchall()]


def fixture(name: str) -> list[str]:
    return (LOGS / name).read_text(encoding="utf-8").splitlines(keepends=True)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args)  # naive: DuckDB TIMESTAMP columns are UTC instants


def check(row: dict, **expected) -> None:
    assert row["reject"] is None, row
    for key, value in expected.items():
        assert row[key] == value, (key, row)


# --------------------------------------------------------------------------- presets

def test_common():
    a, b, c = parse("common", fixture("common.log"))
    check(a, client="192.0.2.1", remote_user="alice", ts=utc(2026, 11, 10, 20, 55, 36),
          method="GET", url="/index.html", protocol="HTTP/1.0",
          request="GET /index.html HTTP/1.0", status=200, bytes=2326, referrer=None,
          user_agent=None, vhost=None, time_served_ms=None)
    check(b, client="2001:db8::7", remote_user=None, ts=utc(2026, 11, 10, 23, 30),
          method="POST", url="/form?x=1", protocol="HTTP/1.1", status=302, bytes=0)
    check(c, client="client-7.example.net", ts=utc(2026, 11, 10, 23, 30), method="HEAD",
          url="/", status=304, bytes=0)


def test_combined():
    a, b, c = parse("combined", fixture("combined.log"))
    check(a, client="198.51.100.23", remote_user=None, ts=utc(2026, 11, 10, 6, 25, 24),
          method="GET", url="/docs/install/?page=2&utm_source=x", protocol="HTTP/2.0",
          status=200, bytes=18244, referrer="https://www.example.org/search?q=weblog",
          user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    # escaped quotes and backslashes stay as logged, and do not end the field
    check(b, client="203.0.113.9", remote_user="bob", ts=utc(2026, 11, 10, 6, 25, 24),
          method="GET", url='/say/\\"hi\\"', protocol="HTTP/1.1", status=404, bytes=153,
          referrer=None, user_agent='curl/8.5.0 \\"quoted\\" and \\\\ backslash')
    check(c, client="2001:db8:85a3::8a2e:370:7334", ts=utc(2026, 11, 10, 6, 25, 24),
          status=304, bytes=0,
          user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")


def test_vhost_combined():
    a, b = parse("vhost_combined", fixture("vhost_combined.log"))
    check(a, vhost="www.example.com", client="192.0.2.44", ts=utc(2026, 11, 10, 9, 0),
          url="/shop/", status=200, bytes=5120, referrer="https://www.example.com/")
    assert a["user_agent"].startswith("Mozilla/5.0 (Windows NT 10.0")
    check(b, vhost="static.example.net", client="2001:db8::44", ts=utc(2026, 11, 10, 9, 0, 1),
          url="/logo.png", bytes=0, referrer=None, user_agent=None)


def test_vhost_is_lower_cased():
    (row,) = parse("vhost_combined", [
        'WWW.Example.COM:80 192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'])
    check(row, vhost="www.example.com")


def test_combined_d_is_microseconds():
    a, b = parse("combined_D", fixture("combined_D.log"))
    check(a, url="/slow", time_served_ms=1.5, user_agent="curl/8.5.0", bytes=10)
    check(b, url="/fast", time_served_ms=0.0)


def test_combined_t_is_seconds():
    a, b = parse("combined_T", fixture("combined_T.log"))
    check(a, url="/report", time_served_ms=2000.0)
    check(b, url="/quick", time_served_ms=0.0)


def test_ms_and_us_directives():
    line = '192.0.2.1 [10/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 {}\n'
    (ms,) = parse("apache:%h %t \"%r\" %>s %{ms}T", [line.format(250)])
    (us,) = parse("apache:%h %t \"%r\" %>s %{us}T", [line.format(250)])
    check(ms, time_served_ms=250.0)
    check(us, time_served_ms=0.25)


def test_crlf_line():
    (row,) = parse("combined", fixture("crlf.log"))
    check(row, url="/crlf", user_agent=None, status=200)


# --------------------------------------------------------------------------- edge cases

def test_edge_cases():
    rows = parse("combined", fixture("edge_cases.log"))
    assert len(rows) == 16
    by_no = {r["line_no"]: r for r in rows}
    # "-" request with 408: parsed, no method/url
    check(by_no[1], request=None, method=None, url=None, protocol=None, status=408, bytes=0)
    # HTTP/0.9 style request: no protocol
    check(by_no[2], request="GET /", method="GET", url="/", protocol=None, bytes=42)
    # TLS handshake bytes sent to the HTTP port, as Apache escapes them
    check(by_no[3], request="\\x16\\x03\\x01", method=None, url=None, protocol=None, status=400)
    # a space in the URL
    check(by_no[4], method="GET", url="/a b/c.html", protocol="HTTP/1.1")
    # client fields are kept as logged; anonymize.py interprets them
    check(by_no[5], client="[2001:db8::74]:51234", method="OPTIONS", url="*")
    check(by_no[6], client="::ffff:192.0.2.75")
    check(by_no[7], client="Host-76.Example.COM")
    # offsets: all these lines are instants on 10 Nov 2026 around 12:00 UTC
    check(by_no[8], ts=utc(2026, 11, 10, 12, 0, 7))      # +0530
    check(by_no[9], ts=utc(2026, 11, 10, 12, 0, 8))      # -1200
    check(by_no[10], ts=utc(2026, 11, 10, 12, 0, 9))     # +1400, next local day
    check(by_no[11], ts=utc(2026, 11, 10, 12, 0, 10))    # -0000
    check(by_no[12], url="/extra", status=200)           # extra trailing fields tolerated
    check(by_no[13], method="BREW", status=418)
    check(by_no[14], method="get", protocol="http/1.1")
    check(by_no[15], client=None, remote_user=None, url="/nobody")
    check(by_no[16], url="/q?\\xe4\\xe5", referrer="http://\\xe4\\xe5.example.com/")


@pytest.mark.parametrize("stamp, instant", [
    ("10/Nov/2026:13:55:36 -0700", utc(2026, 11, 10, 20, 55, 36)),
    ("10/Nov/2026:13:55:36 +0900", utc(2026, 11, 10, 4, 55, 36)),
    ("01/Jan/2027:00:30:00 +0100", utc(2026, 12, 31, 23, 30)),
    ("29/Feb/2028:23:59:59 -0030", utc(2028, 3, 1, 0, 29, 59)),
    ("10/Nov/2026:23:30:00 +0000", utc(2026, 11, 10, 23, 30)),
    ("10/Nov/2026:05:15:00 +0545", utc(2026, 11, 9, 23, 30)),
])
def test_offsets_become_utc_instants(stamp, instant):
    (row,) = parse("common", [f'192.0.2.1 - - [{stamp}] "GET / HTTP/1.1" 200 1\n'])
    check(row, ts=instant)


@pytest.mark.parametrize("offset", ["+9999", "+2500", "-1500", "+0075", "-0960"])
def test_an_offset_no_clock_shows_is_an_unreadable_timestamp(offset):
    """DuckDB's %z reads '+9999' as 99 h 99 min: a forged line would move days away."""
    line = f'192.0.2.1 - - [10/Nov/2026:13:55:36 {offset}] "GET / HTTP/1.1" 200 1\n'
    (row,) = parse("common", [line])
    assert row["reject"] == "unreadable timestamp", row


def test_an_iso_offset_no_clock_shows_is_an_unreadable_timestamp():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    formats = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%n%z"]
    sql = f"SELECT {ts_expr('$t', formats, 'UTC')}"
    assert con.execute(sql, {"t": "2026-11-10T08:34:56+25:00"}).fetchone() == (None,)
    assert con.execute(sql, {"t": "2026-11-10T08:34:56.5-09:75"}).fetchone() == (None,)
    assert con.execute(sql, {"t": "2026-11-10T08:34:56.5-09:30"}).fetchone() == (
        dt.datetime(2026, 11, 10, 18, 4, 56, 500000),)


@settings(max_examples=300, deadline=None)
@given(instant=st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=14)),
                               dt.timezone(-dt.timedelta(hours=12, minutes=30))])))
def test_utc_wall_time_is_what_duckdbs_time_zone_conversion_gives(instant):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    value = "?::TIMESTAMPTZ"
    ours, icu = con.execute(f"SELECT {utc_wall(value)}, timezone('UTC', {value})",
                            [instant, instant]).fetchone()
    assert ours == icu == instant.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize("time_format, micros", [
    ("%Y-%m-%d %H:%M:%S.%f %z", 123456),
    # %n: TIMESTAMPTZ_NS, converted by DuckDB as before (it truncates to microseconds)
    ("%Y-%m-%d %H:%M:%S.%n %z", 123456),
])
def test_zoned_fractional_timestamps(time_format, micros):
    stamp = "2026-11-10 00:30:00.123456" + ("789" if "%n" in time_format else "") + " +0100"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    (ts,) = con.execute(f"SELECT {ts_expr(sql_str(stamp), time_format, 'Asia/Tokyo')}").fetchone()
    assert ts == dt.datetime(2026, 11, 9, 23, 30, 0, micros)


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_offset_timestamps_do_not_depend_on_the_site_time_zone(timezone):
    (row,) = parse("common", ['192.0.2.1 - - [10/Nov/2026:23:30:00 +0000] "GET / HTTP/1.1" 200 1\n'],
                   timezone)
    check(row, ts=utc(2026, 11, 10, 23, 30))


def test_naive_time_format_is_read_in_the_site_time_zone():
    fmt = RegexFormat("naive", (Field("client", r"\S+"), " [", Field("time", r"[^\]]+"), "]"),
                      time_format="%d/%m/%Y %H:%M:%S")
    line = "192.0.2.1 [10/11/2026 09:00:00]\n"
    (tokyo,) = parse(fmt, [line], "Asia/Tokyo")
    (utc_row,) = parse(fmt, [line], "UTC")
    check(tokyo, ts=utc(2026, 11, 10, 0, 0))
    check(utc_row, ts=utc(2026, 11, 10, 9, 0))


# --------------------------------------------------------------------------- rejects

def test_rejects_with_reasons():
    rows = parse("combined", fixture("rejects.log"))
    assert [r["line_no"] for r in rows] == list(range(1, 12))
    reasons = [r["reject"] for r in rows]
    mismatch = "does not match format combined"
    assert reasons == [
        mismatch,                 # two records glued together
        mismatch,                 # unterminated quote
        mismatch,                 # fields missing
        "blank line",
        "unreadable timestamp",   # 31 Feb
        mismatch,                 # time without brackets
        mismatch,                 # 4-digit status
        "blank line",             # only spaces
        mismatch,                 # garbage
        mismatch,                 # user agent without closing quote
        mismatch,                 # doubled space
    ]
    for row in rows:  # a rejected line has no fields
        assert all(row[c] is None for c in COLUMNS[2:]), row


def test_every_line_gives_exactly_one_row():
    lines = fixture("edge_cases.log") + fixture("rejects.log") + fixture("combined.log")
    rows = parse("combined", lines)
    assert [r["line_no"] for r in rows] == list(range(1, len(lines) + 1))
    assert sum(r["reject"] is None for r in rows) == 16 + 3
    assert sum(r["reject"] is not None for r in rows) == 11


def test_parse_keeps_the_lines_it_cannot_read_as_rows():
    rows = parse("combined", ["\x00\n", "\\x00\n", "\u00e9\u00e9\n", '"\n', "[\n", "]\n", "\n"])
    assert len(rows) == 7
    assert all(r["reject"] for r in rows)


# --------------------------------------------------------------------------- property

_TEXT = st.text(alphabet=st.sampled_from(list('aZ09 -"\\[]:/.?=&%\t') + ["\u00e9", "\r"]),
                max_size=12)
_DATES = st.datetimes(min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2037, 12, 31))
_OFFSETS = st.sampled_from(["+0000", "-0000", "+0900", "-0700", "+0530", "+1400", "-1200",
                            "+0545", "-0930"])


@st.composite
def field_value(draw, field: Field) -> str:
    if draw(st.integers(0, 12)) == 0:
        return draw(_TEXT)  # anything, usually invalid
    name = field.name
    if name == "time":
        stamp = draw(_DATES).strftime("%d/%b/%Y:%H:%M:%S")
        return f"{stamp} {draw(_OFFSETS)}"
    if name == "status":
        return draw(st.sampled_from(["200", "404", "-", "1", "999"]))
    if name in ("bytes", "time_us", "time_s", "time_ms") or field.directive == "%p":
        return draw(st.sampled_from(["0", "-", "123456", "7"]))
    if name == "request":
        method = draw(st.sampled_from(["GET", "POST", "get", "M-SEARCH", "", "\\x16\\x03"]))
        url = draw(st.sampled_from(["/", "/a b", "/q?x=1", "*", "", '/\\"x\\"']))
        proto = draw(st.sampled_from([" HTTP/1.1", " HTTP/2.0", "", " junk"]))
        return draw(st.sampled_from([f"{method} {url}{proto}", f"{method} {url}{proto}", "-", ""]))
    if name == "client":
        return draw(st.sampled_from(["192.0.2.1", "2001:db8::1", "-", "host.example.com",
                                     "[2001:db8::1]:80"]))
    if name == "vhost":
        return draw(st.sampled_from(["www.example.com", "WWW.Example.org", "[2001:db8::2]", "a:b"]))
    if field.regex == r"\S+":
        return draw(st.sampled_from(["-", "alice", "x:y", "\\x22"]))
    return draw(st.sampled_from(["-", "", 'Mozilla/5.0 (X; \\"q\\")', "http://example.com/ x"]))


def _line(draw, fmt: RegexFormat) -> str:
    parts = []
    for tok in fmt.tokens:
        if isinstance(tok, Field):
            parts.append(draw(field_value(tok)))
        else:
            parts.append(tok if draw(st.integers(0, 30)) else draw(_TEXT))
    end = draw(st.sampled_from(["\n", "\r\n", "", " extra\n", "\n"]))
    return "".join(parts) + end


@st.composite
def lines_for(draw, fmt: RegexFormat) -> list[str]:
    n = draw(st.integers(1, 8))
    # the line reader only ever yields valid UTF-8: no lone surrogates (category Cs)
    junk = st.one_of(_TEXT, st.text(st.characters(exclude_characters="\n\x00",
                                                  exclude_categories=("Cs",)), max_size=80))
    return [_line(draw, fmt) if draw(st.integers(0, 5)) else draw(junk) + "\n" for _ in range(n)]


ORACLE_FIELDS = ("client", "remote_user", "vhost", "referrer", "user_agent", "forwarded_for")


def _expected(fmt: RegexFormat, regex: re.Pattern[str], line: str) -> dict | None:
    """What the parse must give for a line, computed in plain Python."""
    m = regex.match(line)
    if m is None:
        return None
    g = m.groupdict()
    try:
        ts = dt.datetime.strptime(g["time"], APACHE_TIME)
    except ValueError:
        return None
    out: dict = {"ts": ts.astimezone(UTC).replace(tzinfo=None)}
    dash = lambda v: None if v in (None, "", "-") else v  # noqa: E731
    for name in ORACLE_FIELDS:
        out[name] = dash(g.get(name))
    if out["vhost"] is not None:
        out["vhost"] = out["vhost"].lower()
    out["status"] = int(g["status"]) if g.get("status", "-") not in ("-", None) else None
    out["bytes"] = int(g["bytes"]) if g.get("bytes") not in (None, "-") else 0
    request = dash(g.get("request"))
    out["request"] = request
    method = url = protocol = None
    if request is not None:
        sp = request.split(" ")
        if (len(sp) == 3 and sp[1] != "" and re.fullmatch(METHOD_RE, sp[0], re.ASCII)
                and re.fullmatch(PROTOCOL_RE, sp[2], re.ASCII)):
            method, url, protocol = sp
        else:
            m2 = re.match(REQUEST_RE, request, re.ASCII)
            if m2:
                method, url, protocol = (x or None for x in m2.groups())
    out.update(method=method, url=url, protocol=protocol)
    return out


@pytest.mark.parametrize("name", ["common", "combined", "vhost_combined", "combined_D",
                                  "apache:%h %l %u %t %r %>s %b %{Referer}i %{User-Agent}i"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_never_raises_and_agrees_with_an_oracle(name, data):
    fmt = get_format(name)
    regex = python_regex(fmt)
    lines = data.draw(lines_for(fmt))
    rows = parse(fmt, lines)
    assert [r["line_no"] for r in rows] == list(range(1, len(lines) + 1))  # one row per line
    for line, row in zip(lines, rows):
        expected = _expected(fmt, regex, line)
        event("parsed" if expected is not None else "rejected")
        if expected is None:
            assert row["reject"] is not None, (line, row)
            assert all(row[c] is None for c in COLUMNS[2:])
        else:
            assert row["reject"] is None, (line, row)
            for key, value in expected.items():
                assert row[key] == value, (key, line, row)


def test_request_split_shortcuts_are_values_the_regexes_accept():
    """The split request skips METHOD_RE / PROTOCOL_RE for the common values: each of them
    must be one the regex accepts, or the shortcut would accept what the regex refuses."""
    from pipelines import parse

    methods = re.findall(r"'([^']+)'", parse.COMMON_METHODS)
    protocols = re.findall(r"'([^']+)'", parse.COMMON_PROTOCOLS)
    assert "GET" in methods and "HTTP/1.1" in protocols
    assert all(re.fullmatch(parse.METHOD_RE, m) for m in methods)
    assert all(re.fullmatch(parse.PROTOCOL_RE, p) for p in protocols)

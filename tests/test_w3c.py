"""W3C extended logs (pipelines.w3c): #Fields header blocks, CRLF, #Date, quoted values,
time-taken units, CloudFront (decoding, headerless files), headers across chunks, missing
headers, and never raising on arbitrary lines."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.formats import get_format
from pipelines.w3c import CLOUDFRONT_FIELDS, Header, W3CFormat, compile_w3c
from pipelines.parse import COLUMNS
from test_parse import check, fixture, parse

HEADER = "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status time-taken\n"


def test_iis_fixture_with_several_header_blocks():
    rows = {r["line_no"]: r for r in parse("w3c", fixture("w3c_iis.log"))}
    for n in (1, 2, 3, 4, 8, 9, 10, 11, 14):
        assert rows[n]["reject"] == "W3C directive line"
    check(rows[5], client="192.0.2.10", ts=dt.datetime(2026, 11, 10, 8, 34, 56), method="GET",
          url="/docs/?p=1", status=200, referrer="https://www.example.org/",
          user_agent="Mozilla/5.0+(X11;+Linux+x86_64)",  # IIS's '+' for a space, as logged
          time_served_ms=12.0)  # IIS: milliseconds
    check(rows[6], client="2001:db8::10%4", remote_user="alice", url="/a%20b", status=404,
          referrer=None, time_served_ms=3.0)
    assert rows[7]["reject"] == "14 values where the #Fields header lists 15"
    # the second block: other fields, in another order; CRLF endings; quoted cookie skipped
    check(rows[12], client="10.0.0.2", method="POST", url="/login", protocol="HTTP/1.1",
          vhost="www.example.com", status=302, bytes=512, time_served_ms=1500.0,
          forwarded_for="198.51.100.7")
    assert rows[13]["reject"] == "blank line"
    # a block without a date field: the day of the last #Date
    check(rows[15], client="192.0.2.12", ts=dt.datetime(2026, 11, 10, 9, 0, 2), url="/only-time")


def test_lines_before_any_header_say_so():
    (row,) = parse("w3c", ["2026-11-10 08:00:00 192.0.2.1 GET / - 200 1\n"])
    assert row["reject"].startswith("no #Fields header before this line")


def test_fields_given_by_hand_for_headerless_files():
    fmt = get_format("w3c:date time c-ip cs-method cs-uri-stem cs-uri-query sc-status time-taken")
    (row,) = parse(fmt, ["2026-11-10 08:00:00 192.0.2.1 GET /a x=1 200 250\n"])
    check(row, client="192.0.2.1", url="/a?x=1", status=200, time_served_ms=250.0)
    with pytest.raises(Exception, match="needs the field names"):
        compile_w3c(" ")


def test_header_later_in_the_file_replaces_the_given_fields():
    fmt = compile_w3c("date time c-ip")
    rows = parse(fmt, ["2026-11-10 08:00:00 192.0.2.1\n",
                       "#Fields: c-ip date time cs-uri-stem\n",
                       "192.0.2.2 2026-11-10 08:00:01 /b\n"])
    check(rows[0], client="192.0.2.1")
    check(rows[2], client="192.0.2.2", url="/b")


@pytest.mark.parametrize("software, unit_ms", [
    ("Microsoft Internet Information Services 8.5", True),
    ("Netscaler Web Logging(NSWL)", False),
    ("", False),
])
def test_time_taken_unit_follows_the_software(software, unit_ms):
    lines = ([f"#Software: {software}\n"] if software else []) + [
        HEADER, "2026-11-10 08:00:00 192.0.2.1 GET / - 200 2\n"]
    row = parse("w3c", lines)[-1]
    check(row, time_served_ms=2.0 if unit_ms else 2000.0)


def test_local_times_and_gmt_offset(tmp_path):
    local = ["#Fields: date-local time-local c-ip cs-uri-stem\n",
             "2026-11-10 09:00:00.250 192.0.2.1 /a\n"]
    (_, row) = parse("w3c", local, "Asia/Tokyo")
    check(row, ts=dt.datetime(2026, 11, 10, 0, 0, 0, 250000))
    offset = ["#GMT-Offset: -0800\n", "#Fields: date time c-ip cs-uri-stem\n",
              "2026-11-10 09:00:00 192.0.2.1 /a\n"]
    check(parse("w3c", offset)[-1], ts=dt.datetime(2026, 11, 10, 17, 0))


def test_quoted_values_and_runs_of_blanks():
    lines = ["#Fields:  date  time  c-ip  cs(User-Agent)  sc-status  cs-uri-stem\n",
             '2026-11-10   08:00:00   "192.0.2.1"   "Mozilla/5.0 (X; ""q"")"   ""   /a\n']
    row = parse("w3c", lines)[-1]
    check(row, client="192.0.2.1", user_agent='Mozilla/5.0 (X; "q")', status=None, url="/a")


def test_user_agent_is_percent_decoded_once_and_cloudfront_twice():
    w3c = parse("w3c", ["#Fields: date time c-ip cs(User-Agent)\n",
                        "2026-11-10 08:00:00 192.0.2.1 NSPlayer%2F10.0%20WMFSDK\n"])[-1]
    check(w3c, user_agent="NSPlayer/10.0 WMFSDK")


def test_cloudfront_fixture():
    rows = parse("cloudfront", fixture("cloudfront.log"))
    assert [r["reject"] for r in rows[:2]] == ["W3C directive line"] * 2
    check(rows[2], client="192.0.2.10", ts=dt.datetime(2026, 11, 10, 8, 34, 56), method="GET",
          vhost="www.example.com",  # the viewer's Host header, not the CloudFront name
          url="/docs/?p=1", protocol="HTTP/2.0", status=200, bytes=5120,
          referrer="https://www.example.org/",
          user_agent="Mozilla/5.0 (X11; Linux x86_64)",  # %2520: encoded twice
          time_served_ms=12.0)  # seconds
    check(rows[3], client="2001:db8::7", method="HEAD", status=304,
          forwarded_for="198.51.100.4", time_served_ms=1.0)


def test_cloudfront_without_header_uses_the_documented_fields():
    values = ["2026-11-10", "08:34:56", "FRA2", "5120", "192.0.2.10", "GET",
              "d111111abcdef8.cloudfront.net", "/docs/", "200", "-", "curl/8.5.0", "-", "-",
              "Hit", "ID==", "www.example.com", "https", "217", "0.012"]
    old = "\t".join(values) + "\n"  # older logs: 19 fields
    new = "\t".join(values + ["-"] * (len(CLOUDFRONT_FIELDS) - len(values))) + "\n"
    for row in parse("cloudfront", [old, new]):
        check(row, client="192.0.2.10", url="/docs/", vhost="www.example.com",
              time_served_ms=12.0)
    # the same values with spaces are not CloudFront's
    (row,) = parse("cloudfront", [old.replace("\t", " ")])
    assert row["reject"] == "not tab-separated like CloudFront logs"


def test_cloudfront_rejects_a_foreign_header():
    rows = parse("cloudfront", [HEADER, "2026-11-10 08:00:00 192.0.2.1 GET / - 200 2\n"])
    assert rows[1]["reject"] == "the #Fields header is not one of format cloudfront"


def test_state_is_carried_from_chunk_to_chunk():
    fmt = get_format("w3c")
    first = pa.table({"line_no": pa.array([1, 2], pa.int64()),
                      "line": pa.array(["#Software: Microsoft IIS\n", HEADER], pa.large_string())})
    _, carry = fmt.bind(first, None)
    assert isinstance(carry, Header) and carry.fields[2] == "c-ip"
    second = pa.table({"line_no": pa.array([3], pa.int64()),
                       "line": pa.array(["2026-11-10 08:00:00 192.0.2.1 GET / - 200 2\n"],
                                        pa.large_string())})
    bound, carry2 = fmt.bind(second, carry)
    assert carry2 == carry
    assert bound.blocks == ((0, carry),)


_TOKEN = st.sampled_from(["-", '"', '""', '"a b"', "2026-11-10", "08:00:00", "192.0.2.1",
                          "GET", "/", "200", "x", "\t", "  ", "#Fields:", "%zz", "é"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.lists(_TOKEN, max_size=10).map(lambda t: " ".join(t) + "\n"),
                      min_size=1, max_size=8),
       name=st.sampled_from(["w3c", "cloudfront"]))
def test_never_raises_and_gives_one_row_per_line(lines, name):
    rows = parse(name, [HEADER] + lines)
    assert [r["line_no"] for r in rows] == list(range(1, len(lines) + 2))
    for row in rows:
        if row["reject"] is not None:
            assert all(row[c] is None for c in COLUMNS[2:])


def test_w3c_format_is_immutable_across_binds():
    fmt = W3CFormat("w3c")
    table = pa.table({"line_no": pa.array([1], pa.int64()),
                      "line": pa.array([HEADER], pa.large_string())})
    fmt.bind(table, None)
    assert fmt.blocks == ()

"""JSON-lines logs (pipelines.jsonlog): Caddy, Traefik, nginx's Matomo keys, `json:` mappings,
time shapes, non-access records, and never raising on arbitrary lines."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import InputError
from pipelines.formats import get_format
from pipelines.jsonlog import compile_json, json_path
from pipelines.parse import COLUMNS, NOT_ACCESS
from test_parse import check, fixture, parse

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_caddy_fixture():
    a, other, b, junk = parse("caddy", fixture("caddy.log"))
    check(a, client="192.0.2.10",  # client_ip (Caddy's trusted-proxy choice), not remote_ip
          remote_user="alice", ts=dt.datetime(2026, 11, 10, 8, 34, 56, 500000), method="GET",
          url="/docs/?p=1", protocol="HTTP/2.0", vhost="www.example.com", status=200,
          bytes=5120, time_served_ms=1.2, referrer="https://www.example.org/", user_agent=UA,
          forwarded_for="192.0.2.10")
    assert other["reject"] == NOT_ACCESS  # a reverse_proxy debug record
    check(b, client="2001:db8::9", remote_user=None, vhost="api.example.com:8443",
          status=204, bytes=0, time_served_ms=250.0, user_agent=None)
    assert junk["reject"] == "does not match format caddy"
    assert get_format("caddy").diagnose("not json\n").endswith("not a JSON object")


def test_traefik_fixture():
    a, b = parse("traefik_json", fixture("traefik_json.log"))
    check(a, client="192.0.2.10", remote_user=None,
          ts=dt.datetime(2026, 11, 10, 8, 34, 56, 500000),  # StartUTC, not `time`
          vhost="www.example.com", method="GET", url="/docs/?p=1", protocol="HTTP/2.0",
          status=200, bytes=5120, time_served_ms=12.0,  # Duration is nanoseconds
          referrer="https://www.example.org/", user_agent=UA)
    check(b, client="2001:db8::9", remote_user="bob", ts=dt.datetime(2026, 11, 10, 8, 35),
          status=404,  # a string in JSON
          time_served_ms=0.357313, forwarded_for="198.51.100.7")


@pytest.mark.parametrize("value, expected", [
    (1794299696, dt.datetime(2026, 11, 10, 8, 34, 56)),
    (1794299696.25, dt.datetime(2026, 11, 10, 8, 34, 56, 250000)),
    (1794299696250, dt.datetime(2026, 11, 10, 8, 34, 56, 250000)),  # milliseconds
    (1794299696250000, dt.datetime(2026, 11, 10, 8, 34, 56, 250000)),  # microseconds
    ("2026-11-10T09:34:56+01:00", dt.datetime(2026, 11, 10, 8, 34, 56)),
    ("2026-11-10T08:34:56.123456789Z", dt.datetime(2026, 11, 10, 8, 34, 56, 123456)),
    ("2026-11-10T08:34:56Z", dt.datetime(2026, 11, 10, 8, 34, 56)),
    ("2026-11-10 17:34:56", dt.datetime(2026, 11, 10, 8, 34, 56)),  # local time: Tokyo
    ("10/Nov/2026:09:34:56 +0100", dt.datetime(2026, 11, 10, 8, 34, 56)),
    ("yesterday", None),
    (-5, None),
])
def test_time_shapes(value, expected):
    fmt = compile_json("client=ip time=t")
    (row,) = parse(fmt, [json.dumps({"ip": "192.0.2.1", "t": value}) + "\n"], "Asia/Tokyo")
    if expected is None:
        assert row["reject"] == "unreadable timestamp"
    else:
        check(row, ts=expected)


def test_json_mapping():
    fmt = get_format('json:client=remote_addr time=ts request=request status=status '
                     'bytes=size user_agent=$.headers."User-Agent"[0] vhost=req.host '
                     'time_ms=ms')
    line = json.dumps({"remote_addr": "192.0.2.1", "ts": 1794299696, "request": "GET /a HTTP/1.1",
                       "status": 301, "size": "12", "headers": {"User-Agent": ["curl/8.5.0"]},
                       "req": {"host": "www.example.com"}, "ms": 3.5}) + "\n"
    (row,) = parse(fmt, [line])
    check(row, client="192.0.2.1", method="GET", url="/a", protocol="HTTP/1.1", status=301,
          bytes=12, user_agent="curl/8.5.0", vhost="www.example.com", time_served_ms=3.5)


@pytest.mark.parametrize("spec, message", [
    ("client=ip", "needs a time field"),
    ("client", "is not 'field=key'"),
    ("client=ip time=t cookie=c", "JSON format field 'cookie' is not supported"),
])
def test_json_mapping_errors(spec, message):
    with pytest.raises(InputError, match=message):
        compile_json(spec)


def test_json_path():
    assert json_path("remote_addr") == "$.remote_addr"
    assert json_path("request.uri") == "$.request.uri"
    assert json_path("request_User-Agent") == '$."request_User-Agent"'
    assert json_path('$.a."b c"[0]') == '$.a."b c"[0]'


def test_nginx_json_matomo_keys():
    line = ('{"idsite":1,"ip": "192.0.2.1","host": "www.example.com","path": "/a?b=1",'
            '"status": "200","referrer": "https://www.example.org/","user_agent": "curl/8.5.0",'
            '"length": 192,"generation_time_milli": 0.008,"date": "2026-11-10T09:34:56+01:00"}\n')
    (row,) = parse("nginx_json", [line])
    check(row, client="192.0.2.1", vhost="www.example.com", url="/a?b=1", status=200,
          bytes=192, time_served_ms=0.008, ts=dt.datetime(2026, 11, 10, 8, 34, 56))


_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["ts", "request", "ClientHost",
                                                             "RequestMethod", "status", "logger",
                                                             "ip", "date", "x"]), inner,
                                            max_size=4)),
    max_leaves=10)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(_JSONISH.map(json.dumps), st.text(max_size=30)),
                       min_size=1, max_size=6),
       name=st.sampled_from(["caddy", "traefik_json", "nginx_json"]))
def test_never_raises_and_gives_one_row_per_line(values, name):
    lines = [v.replace("\n", " ") + "\n" for v in values]
    rows = parse(name, lines)
    assert [r["line_no"] for r in rows] == list(range(1, len(lines) + 1))
    for row in rows:
        if row["reject"] is not None:
            assert all(row[c] is None for c in COLUMNS[2:])


@pytest.mark.parametrize("size, expected", [
    ('"abc"', 0), ("-5", 0), (str((1 << 40) + 1), 0), ("512", 512), ('"512"', 512)])
def test_a_json_size_that_is_no_byte_count_counts_as_zero(size, expected):
    line = ('{"ip": "192.0.2.10", "host": "www.example.com", "path": "/a", "status": "200", '
            f'"length": {size}, "date": "2026-11-10T09:34:56+01:00"}}\n')
    (row,) = parse("nginx_json", [line])
    assert row["reject"] is None and row["bytes"] == expected, row


@pytest.mark.parametrize("size", ["-5", "abc", "1.5"])
def test_a_text_format_size_that_is_no_byte_count_rejects_the_line(size):
    (row,) = parse("combined", [f'192.0.2.9 - - [28/Nov/2026:10:00:00 +0000] "GET /n HTTP/1.1" '
                                f'200 {size} "-" "x"\n'])
    assert row["reject"] == "does not match format combined", row
    assert get_format("combined").diagnose(
        f'192.0.2.9 - - [28/Nov/2026:10:00:00 +0000] "GET /n HTTP/1.1" 200 {size} "-" "x"'
    ).startswith("does not match format combined: field 'bytes'")

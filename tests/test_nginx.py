"""nginx log_format strings (pipelines.nginx): compilation to the regex parser, every
canonical variable, skipped variables, JSON formats, and one clear error for unknown ones."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipelines.errors import InputError
from pipelines.formats import PRESETS, get_format
from pipelines.jsonlog import JsonFormat
from pipelines.nginx import compile_nginx
from pipelines.patterns import Field, RegexFormat
from test_parse import check, fixture, parse

LOGS = Path(__file__).parent / "data" / "logs"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def names(fmt: RegexFormat) -> list[str]:
    return [t.name for t in fmt.tokens if isinstance(t, Field)]


def test_nginx_combined_is_apache_combined():
    nginx = compile_nginx('$remote_addr - $remote_user [$time_local] "$request" $status '
                          '$body_bytes_sent "$http_referer" "$http_user_agent"')
    line = (f'192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] "GET /x HTTP/1.1" 200 5 '
            f'"https://www.example.org/" "{UA}"\n')
    assert parse(nginx, [line]) == parse("combined", [line])


def test_nginx_main_fixture():
    a, b, c = parse("nginx_main", fixture("nginx_main.log"))
    check(a, client="192.0.2.10", ts=dt.datetime(2026, 11, 10, 8, 34, 56), method="GET",
          url="/docs/?p=1", protocol="HTTP/1.1", status=200, bytes=5120,
          referrer="https://www.example.org/", user_agent=UA, forwarded_for=None)
    check(b, client="10.0.0.2", remote_user="alice", ts=dt.datetime(2026, 11, 10, 8, 34, 57),
          method="POST", status=302, bytes=0, forwarded_for="198.51.100.7, 10.0.0.9")
    # nginx writes a quote as \x22: kept as logged
    check(c, client="2001:db8::5", url="/q\\x22x", user_agent="Mozilla/5.0 \\x22quoted\\x22")


def test_ingress_nginx_fixture():
    rows = parse("nginx_ingress", fixture("nginx_ingress.log"))
    assert [r["reject"] for r in rows] == [None] * 4
    check(rows[0], client="192.0.2.64", status=200, bytes=59, time_served_ms=4.0)  # $request_time
    check(rows[1], method="PATCHp", status=400, user_agent=None, time_served_ms=0.0)
    check(rows[2], url="/multi", time_served_ms=104.0)  # several upstreams: the request's time
    check(rows[3], client="2001:db8::65", url="/php", time_served_ms=10.0)  # a unix: upstream


@pytest.mark.parametrize("variable, field, value, expected", [
    ("$time_iso8601", "ts", "2026-11-10T09:34:56+01:00", dt.datetime(2026, 11, 10, 8, 34, 56)),
    ("$msec", "ts", "1794299696.500", dt.datetime(2026, 11, 10, 8, 34, 56, 500000)),
    ("$request_time", "time_served_ms", "0.012", 12.0),
    ("$upstream_response_time", "time_served_ms", "0.100, 0.004", 100.0),
    ("$upstream_response_time", "time_served_ms", "-", None),
    ("$host", "vhost", "WWW.Example.COM", "www.example.com"),
    ("$http_host", "vhost", "www.example.com:8443", "www.example.com:8443"),
    ("$server_name", "vhost", "www.example.com", "www.example.com"),
    ("$http_x_forwarded_for", "forwarded_for", "198.51.100.7, 10.0.0.2", "198.51.100.7, 10.0.0.2"),
    ("$bytes_sent", "bytes", "5120", 5120),
    ("$remote_user", "remote_user", "alice", "alice"),
])
def test_variables(variable, field, value, expected):
    time = "[$time_local] " if field != "ts" else ""
    fmt = compile_nginx(f"$remote_addr {time}{variable} \"$request\" $status")
    stamp = "[10/Nov/2026:08:34:56 +0000] " if field != "ts" else ""
    (row,) = parse(fmt, [f'192.0.2.1 {stamp}{value} "GET / HTTP/1.1" 200\n'])
    assert row["reject"] is None, row
    assert row[field] == expected


def test_request_parts_as_variables():
    fmt = compile_nginx('$remote_addr [$time_local] $request_method $scheme://$host$request_uri '
                        '$server_protocol $status $body_bytes_sent')
    (row,) = parse(fmt, ["192.0.2.1 [10/Nov/2026:08:34:56 +0000] GET https://www.example.com"
                         "/a?b=1 HTTP/2.0 200 7\n"])
    check(row, method="GET", url="/a?b=1", protocol="HTTP/2.0", vhost="www.example.com",
          request=None, bytes=7)


def test_realip_remote_addr_is_the_peer():
    fmt = compile_nginx('$realip_remote_addr $remote_addr [$time_local] "$request" $status')
    assert names(fmt)[:2] == ["client", "forwarded_for"]


def test_skipped_variables_are_matched_and_dropped():
    fmt = compile_nginx('$remote_addr:$remote_port [$time_local] "$request" $status '
                        '$ssl_protocol/$ssl_cipher "$http_cookie" $request_id $upstream_addr '
                        '$sent_http_content_type $connection_requests')
    assert set(names(fmt)) == {"client", "skip", "time", "request", "status"}
    (row,) = parse(fmt, ['192.0.2.1:5050 [10/Nov/2026:08:34:56 +0000] "GET / HTTP/1.1" 200 '
                         'TLSv1.3/TLS_AES_128_GCM_SHA256 "session=secret" 0f3a '
                         '10.0.0.1:80, 10.0.0.2:80 text/html 3\n'])
    check(row, client="192.0.2.1", status=200)


def test_braced_variables():
    fmt = compile_nginx('${remote_addr} [${time_local}] "${request}" ${status}')
    assert names(fmt) == ["client", "time", "request", "status"]


@pytest.mark.parametrize("fmt, named", [
    ('$remote_addr [$time_local] $geoip_city_name "$request"', "$geoip_city_name"),
    ('$remote_addr [$time_local] $my_custom_var', "$my_custom_var"),
])
def test_unknown_variable_is_one_clear_error(fmt, named):
    with pytest.raises(InputError) as err:
        compile_nginx(fmt)
    assert f"nginx variable '{named}' is not supported" in str(err.value)


def test_a_format_without_time_is_an_error():
    with pytest.raises(InputError, match="has no time field"):
        compile_nginx('$remote_addr "$request" $status')


def test_escape_json_format_compiles_to_json():
    template = ('{"time":"$time_iso8601","addr":"$remote_addr","host":"$host",'
                '"req":"$request","status": $status,"size":$body_bytes_sent,'
                '"rt":$request_time,"ua":"$http_user_agent","xff":"$http_x_forwarded_for",'
                '"cookie":"$http_cookie"}')
    fmt = get_format("nginx:" + template)
    assert isinstance(fmt, JsonFormat)
    assert "$.cookie" not in str(fmt.mapping)  # skipped variables are not read at all
    line = ('{"time":"2026-11-10T09:34:56+01:00","addr":"192.0.2.1","host":"www.example.com",'
            '"req":"GET /a HTTP/1.1","status": 200,"size":12,"rt":0.250,'
            '"ua":"curl/8.5.0 \\"x\\"","xff":"198.51.100.4","cookie":"s=1"}\n')
    (row,) = parse(fmt, [line])
    check(row, client="192.0.2.1", ts=dt.datetime(2026, 11, 10, 8, 34, 56),
          vhost="www.example.com", method="GET", url="/a", protocol="HTTP/1.1", status=200,
          bytes=12, time_served_ms=250.0, user_agent='curl/8.5.0 "x"',
          forwarded_for="198.51.100.4")


def test_nginx_presets_compile_from_their_strings():
    for name in ("nginx_main", "nginx_ingress", "nginx_proxy_manager"):
        fmt = get_format(name)
        assert isinstance(fmt, RegexFormat) and fmt.name == name
        assert "nginx:" + fmt.source == PRESETS[name].spec

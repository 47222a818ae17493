"""Log format registry: named presets, format strings, and `auto`.

A format name is one of:
  - a preset (`PRESETS`: Apache/nginx variants, W3C/IIS, CloudFront, JSON logs of Caddy,
    Traefik and nginx, AWS ELB/ALB and S3, HAProxy);
  - `apache:<LogFormat>` (pipelines.apache), `nginx:<log_format>` (pipelines.nginx),
    `w3c:<field names>` (pipelines.w3c), `json:<field=key ...>` (pipelines.jsonlog);
  - `auto` (the default): detected per file from its first lines (pipelines.detect).

Every format is a pipelines.parse.LogFormat and yields the same canonical columns, so ingest
never depends on the kind. Presets are tried by detection in `PRESETS` order, most specific
first; `detect=False` marks presets whose lines other presets read the same way (their
difference is a guess, e.g. the unit of a trailing number).

Adding a preset: one entry in PRESETS with a description and an example line, a row in the
README's "Log formats" table, and a test in tests/test_formats.py.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from .apache import compile_apache
from .errors import InputError
from .jsonlog import CADDY, NGINX_JSON, TRAEFIK, JsonFormat, compile_json
from .nginx import compile_nginx
from .parse import LogFormat
from .patterns import APACHE_TIME, CANONICAL, QUOTED, Field, RegexFormat
from .w3c import W3CFormat, compile_w3c

__all__ = ["APACHE_TIME", "AUTO", "CANONICAL", "PRESETS", "QUOTED", "Field", "LogFormat",
           "Preset", "RegexFormat", "compile_apache", "get_format", "detectable_presets"]

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = COMMON + ' "%{Referer}i" "%{User-Agent}i"'
NGINX_MAIN = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
              '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"')
NGINX_INGRESS = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                 '"$http_referer" "$http_user_agent" $request_length $request_time '
                 '[$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr '
                 '$upstream_response_length $upstream_response_time $upstream_status $req_id')
NGINX_PROXY_MANAGER = ('[$time_local] $upstream_cache_status $upstream_status $status - '
                       '$request_method $scheme $host "$request_uri" [Client $remote_addr] '
                       '[Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] '
                       '"$http_user_agent" "$http_referer"')
NGINX_PROXY_MANAGER_STANDARD = ('[$time_local] $status - $request_method $scheme $host '
                                '"$request_uri" [Client $remote_addr] [Length $body_bytes_sent] '
                                '[Gzip $gzip_ratio] "$http_user_agent" "$http_referer"')


class AutoFormat(LogFormat):
    """Stands for 'detect the format of each file' until ingest resolves it."""

    name = "auto"
    kind = "auto"
    description = "Detected per file from its first lines (`weblog detect FILE` shows how)."

    def fields_ctes(self, relation: str, timezone: str) -> str:
        raise InputError("Format 'auto' must be resolved per file before parsing.")


AUTO = AutoFormat()


# --------------------------------------------------------------------------- load balancers

def _f(name: str, regex: str = r"\S+", directive: str = "", time_format: str = "") -> Field:
    return Field(name, regex, directive or name, time_format)


SKIP = _f("skip")
NUM = r"-?\d+(?:\.\d+)?"
ISO_Z = "%Y-%m-%dT%H:%M:%S.%fZ"


def _elb() -> RegexFormat:
    tokens = (_f("time", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "time"), " ",
              _f("skip", r"\S+", "elb"), " ", _f("client", r"\S+", "client"), ":",
              _f("skip", r"\d+", "client port"), " ", _f("skip", r"\S+", "backend:port"), " ",
              _f("skip", NUM, "request_processing_time"), " ",
              _f("time_s", NUM, "backend_processing_time"), " ",
              _f("skip", NUM, "response_processing_time"), " ",
              _f("status", r"\d{3}", "elb_status_code"), " ",
              _f("skip", r"\S+", "backend_status_code"), " ", _f("skip", r"\d+", "received_bytes"),
              " ", _f("bytes", r"\d+", "sent_bytes"), ' "', _f("request", QUOTED, "request"), '" "',
              _f("user_agent", QUOTED, "user_agent"), '"')
    return RegexFormat("elb", tokens, ISO_Z, absolute_urls=True)


def _alb() -> RegexFormat:
    tokens = (_f("skip", r"[a-z0-9]+", "type"), " ",
              _f("time", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "time"), " ",
              _f("skip", r"\S+", "elb"), " ", _f("client", r"\S+", "client"), ":",
              _f("skip", r"\d+", "client port"), " ", _f("skip", r"\S+", "target:port"), " ",
              _f("skip", NUM, "request_processing_time"), " ",
              _f("time_s", NUM, "target_processing_time"), " ",
              _f("skip", NUM, "response_processing_time"), " ",
              _f("status", r"\d{3}", "elb_status_code"), " ",
              _f("skip", r"\S+", "target_status_code"), " ", _f("skip", r"\d+", "received_bytes"),
              " ", _f("bytes", r"\d+", "sent_bytes"), ' "', _f("request", QUOTED, "request"), '" "',
              _f("user_agent", QUOTED, "user_agent"), '" ', _f("skip", r"\S+", "ssl_cipher"), " ",
              _f("skip", r"\S+", "ssl_protocol"), " ", _f("skip", r"\S+", "target_group_arn"), ' "',
              _f("skip", QUOTED, "trace_id"), '" "', _f("vhost", QUOTED, "domain_name"), '"')
    return RegexFormat("alb", tokens, ISO_Z, absolute_urls=True)


def _s3() -> RegexFormat:
    tokens = (_f("skip", r"\S+", "bucket_owner"), " ", _f("vhost", r"\S+", "bucket"), " [",
              _f("time", r"[^\]]+", "time", APACHE_TIME), "] ", _f("client", r"\S+", "remote_ip"),
              " ", _f("remote_user", r"\S+", "requester"), " ", _f("skip", r"\S+", "request_id"),
              " ", _f("skip", r"\S+", "operation"), " ", _f("skip", r"\S+", "key"), ' "',
              _f("request", QUOTED, "request_uri"), '" ', _f("status", r"\d{3}|-", "http_status"),
              " ", _f("skip", r"\S+", "error_code"), " ", _f("bytes", r"\d+|-", "bytes_sent"), " ",
              _f("skip", r"\d+|-", "object_size"), " ", _f("time_ms", r"\d+|-", "total_time"), " ",
              _f("skip", r"\d+|-", "turn_around_time"), ' "', _f("referrer", QUOTED, "referer"),
              '" "', _f("user_agent", QUOTED, "user_agent"), '"')
    return RegexFormat("s3", tokens, APACHE_TIME)


def _haproxy() -> RegexFormat:
    tokens = (_f("skip", r'(?:[^"]*?\]: )?', "syslog header"), _f("client", r"\S+", "client_ip"),
              ":", _f("skip", r"\d+", "client_port"), " [",
              _f("time", r"[^\]]+", "accept_date", "%d/%b/%Y:%H:%M:%S.%g"), "] ",
              _f("skip", r"\S+", "frontend_name"), " ", _f("skip", r"\S+", "backend/server"), " ",
              _f("skip", r"(?:[^\s/]+ )?", "extra field"),
              _f("skip", r"-?\d+/-?\d+/-?\d+/-?\d+", "TR/Tw/Tc/Tr"), "/",
              _f("time_ms", r"\+?\d+|-1", "Ta"), " ", _f("status", r"-?\d{1,3}", "status_code"), " ",
              _f("bytes", r"\+?\d+", "bytes_read"), " ", _f("skip", r"\S+ \S+", "cookies"), " ",
              _f("skip", r"\S+", "termination_state"), " ", _f("skip", r"\S+", "conn counts"), " ",
              _f("skip", r"\S+", "queues"), " ", _f("skip", r"(?:\{[^}]*\} )*", "captured headers"),
              '"', _f("request", QUOTED, "http_request"), '"')
    # HAProxy's own messages in the same syslog stream: proxies starting or stopping, servers
    # going up or down, TLS handshake failures
    not_access = (r"^(?:[^\"]*?\]: )?(?:(?:Proxy|Server|Backend|Frontend|backend|frontend) \S+ |"
                  r"Stopping |Pausing |Resuming |Connect from |\S+:\d+ \[[^\]]*\] \S+: )")
    return RegexFormat("haproxy", tokens, "%d/%b/%Y:%H:%M:%S.%g", not_access=not_access)


# --------------------------------------------------------------------------- presets

@dataclass(frozen=True)
class Preset:
    name: str
    spec: str | Callable[[], LogFormat]  # a format string, or a builder
    description: str
    example: str  # one line of the format (W3C: a header and a line)
    detect: bool = True

    def build(self) -> LogFormat:
        if not callable(self.spec):
            return _compile(self.spec, self.name, self.description)
        fmt = self.spec()
        return fmt if fmt.description else replace(fmt, description=self.description)


_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
_REQ = '"GET /docs/?p=1 HTTP/1.1"'
_PRESETS = (
    Preset("caddy", lambda: CADDY, CADDY.description,
           '{"level":"info","ts":1794299696.5,"logger":"http.log.access","msg":"handled request",'
           '"request":{"remote_ip":"192.0.2.10","remote_port":"50312","client_ip":"192.0.2.10",'
           '"proto":"HTTP/2.0","method":"GET","host":"www.example.com","uri":"/docs/?p=1",'
           '"headers":{"User-Agent":["' + _UA + '"]}},"bytes_read":0,"user_id":"",'
           '"duration":0.0012,"size":5120,"status":200}'),
    Preset("traefik_json", lambda: TRAEFIK, TRAEFIK.description,
           '{"ClientAddr":"192.0.2.10:50312","ClientHost":"192.0.2.10","ClientUsername":"-",'
           '"DownstreamContentSize":5120,"DownstreamStatus":200,"Duration":1200000,'
           '"RequestHost":"www.example.com","RequestMethod":"GET","RequestPath":"/docs/?p=1",'
           '"RequestProtocol":"HTTP/1.1","StartUTC":"2026-11-10T08:34:56.5Z",'
           '"request_User-Agent":"' + _UA + '"}'),
    Preset("nginx_json", lambda: NGINX_JSON, NGINX_JSON.description,
           '{"ip": "192.0.2.10", "host": "www.example.com", "path": "/docs/?p=1", "status": "200",'
           ' "referrer": "-", "user_agent": "' + _UA + '", "length": 5120,'
           ' "generation_time_milli": 1.2, "date": "2026-11-10T09:34:56+01:00"}'),
    Preset("cloudfront", lambda: W3CFormat("cloudfront", cloudfront=True),
           "Amazon CloudFront standard logs (tab-separated W3C; fields from #Fields or the "
           "documented 33 when the header is missing; user agent decoded twice).",
           "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
           "cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n"
           "2026-11-10\t08:34:56\tFRA2\t5120\t192.0.2.10\tGET\td111111abcdef8.cloudfront.net\t"
           "/docs/\t200\t-\tMozilla/5.0%2520(X11;%2520Linux%2520x86_64)\tp=1"),
    Preset("w3c", lambda: W3CFormat("w3c"),
           "W3C extended / IIS / Netscaler / Shoutcast: fields from each #Fields header.",
           "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip "
           "cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
           "cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
           "2026-11-10 08:34:56 198.51.100.1 GET /docs/ p=1 443 - 192.0.2.10 "
           "Mozilla/5.0+(X11;+Linux+x86_64) - 200 0 0 12"),
    Preset("alb", _alb, "AWS Application Load Balancer access log (target_processing_time as "
           "time served, domain_name as vhost).",
           'https 2026-11-10T08:34:56.123456Z app/my-alb/50dc6c495c0c9188 192.0.2.10:50312 '
           '10.0.0.1:80 0.001 0.012 0.000 200 200 34 5120 "GET https://www.example.com:443/docs/?p=1 '
           'HTTP/1.1" "' + _UA + '" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
           'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/t/73e2d6bc24d8a067 '
           '"Root=1-58337262-36d228ad5d99923122bbe354" "www.example.com" "-" 0 '
           '2026-11-10T08:34:56.110000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"'),
    Preset("elb", _elb, "AWS Classic Load Balancer access log (backend_processing_time as time "
           "served).",
           '2026-11-10T08:34:56.123456Z my-elb 192.0.2.10:50312 10.0.0.1:80 0.000086 0.012 '
           '0.000037 200 200 0 5120 "GET https://www.example.com:443/docs/?p=1 HTTP/1.1" "'
           + _UA + '" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2'),
    Preset("s3", _s3, "Amazon S3 server access log (bucket as vhost, requester as user).",
           '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be www.example.com '
           '[10/Nov/2026:08:34:56 +0000] 192.0.2.10 - 3E57427F3EXAMPLE REST.GET.OBJECT docs/index.html '
           '"GET /docs/?p=1 HTTP/1.1" 200 - 5120 5120 12 11 "-" "' + _UA + '" -'),
    Preset("haproxy", _haproxy, "HAProxy HTTP log (option httplog), with or without the syslog "
           "header; Ta as time served; accept date in the site time zone.",
           'Nov 10 08:34:56 lb1 haproxy[6801]: 192.0.2.10:50312 [10/Nov/2026:08:34:56.123] '
           'www~ app/web1 0/0/1/11/12 200 5120 - - ---- 3/3/0/0/0 0/0 "GET /docs/?p=1 HTTP/1.1"'),
    Preset("nginx_ingress", "nginx:" + NGINX_INGRESS,
           "Kubernetes ingress-nginx default ($request_time as time served).",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "' + _UA + '" '
           '412 0.012 [default-web-8080] [] 10.244.0.7:8080 5120 0.011 200 '
           '529a007902362a5f51385a5fa7049884'),
    Preset("nginx_proxy_manager", "nginx:" + NGINX_PROXY_MANAGER,
           "Nginx Proxy Manager's proxy-host log.",
           '[10/Nov/2026:08:34:56 +0000] - 200 200 - GET https www.example.com "/docs/?p=1" '
           '[Client 192.0.2.10] [Length 5120] [Gzip 2.45] [Sent-to 10.0.0.15] "' + _UA + '" "-"'),
    Preset("nginx_proxy_manager_standard", "nginx:" + NGINX_PROXY_MANAGER_STANDARD,
           "Nginx Proxy Manager's standard log (default and dead hosts).",
           '[10/Nov/2026:08:34:56 +0000] 200 - GET https www.example.com "/docs/?p=1" '
           '[Client 192.0.2.10] [Length 5120] [Gzip -] "' + _UA + '" "-"'),
    Preset("nginx_main", "nginx:" + NGINX_MAIN,
           "nginx's default 'main' format: combined + \"$http_x_forwarded_for\".",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "' + _UA
           + '" "203.0.113.7"'),
    Preset("traefik_clf", "apache:" + COMBINED + ' %k "%{router}n" "%{server}n" %{ms}Tms',
           "Traefik's common log format (combined + request count, router, server, ms).",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "' + _UA
           + '" 42 "web@docker" "http://10.0.0.3:80" 12ms'),
    Preset("gandi", 'apache:%V %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
           "Gandi simple hosting: vhost first, then '(seconds s)' before the request.",
           'www.example.com 192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] (0 s) ' + _REQ
           + ' 200 5120 "-" "' + _UA + '"'),
    Preset("vhost_combined", "apache:%v:%p " + COMBINED.replace("%b", "%O"),
           "Apache vhost_combined (Debian default): 'host:port ' + combined.",
           'www.example.com:443 192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ
           + ' 200 5120 "-" "' + _UA + '"'),
    Preset("common_complete", "apache:%v " + COMBINED,
           "'host ' + combined (Matomo's common_complete).",
           'www.example.com 192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ
           + ' 200 5120 "-" "' + _UA + '"'),
    Preset("common_vhost", "apache:%v " + COMMON, "'host ' + common (Matomo's common_vhost).",
           'www.example.com 192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120'),
    Preset("combined_D", "apache:" + COMBINED + " %D",
           "Combined + time served in microseconds (%D).",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "' + _UA
           + '" 12000', detect=False),
    Preset("combined_T", "apache:" + COMBINED + " %T",
           "Combined + time served in seconds (%T; icecast2 logs the session length here).",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "' + _UA
           + '" 2', detect=False),
    Preset("ovh", 'apache:%h %v %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
           "OVH hosting: the vhost where combined has the ident field.",
           '192.0.2.10 www.example.com - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 "-" "'
           + _UA + '"', detect=False),
    Preset("combined", "apache:" + COMBINED,
           "Apache/nginx combined: common + referrer and user agent.",
           '192.0.2.10 - - [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120 '
           '"https://www.example.org/" "' + _UA + '"'),
    Preset("common", "apache:" + COMMON,
           "NCSA common log format (Apache 'common', nginx without referrer/agent).",
           '192.0.2.10 - alice [10/Nov/2026:08:34:56 +0000] ' + _REQ + ' 200 5120'),
)
PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}
PREFIXES = ("apache:", "nginx:", "w3c:", "json:")


def detectable_presets() -> list[str]:
    """Preset names auto-detection tries, most specific first."""
    return [p.name for p in _PRESETS if p.detect]


def _compile(spec: str, name: str | None = None, description: str = "") -> LogFormat:
    kind, _, body = spec.partition(":")
    if kind == "apache":
        return compile_apache(body, name or "apache-custom", description)
    if kind == "nginx":
        return compile_nginx(body, name or "nginx-custom", description)
    if kind == "w3c":
        return compile_w3c(body, name or "w3c-custom", description)
    if kind == "json":
        return compile_json(body, name or "json-custom", description)
    raise InputError(f"Unknown format kind {kind!r}.")


@lru_cache(maxsize=256)
def get_format(name: str) -> LogFormat:
    """A preset by name, 'auto', or a format string ('apache:...', 'nginx:...', 'w3c:...',
    'json:...'). Formats are immutable, so compiled ones are shared."""
    if name == "auto":
        return AUTO
    if name.startswith(PREFIXES):
        return _compile(name)
    preset = PRESETS.get(name)
    if preset is None:
        known = ", ".join(PRESETS)
        raise InputError(f"Unknown log format {name!r} (known: auto, {known}, or "
                         "'apache:<LogFormat>', 'nginx:<log_format>', 'w3c:<fields>', "
                         "'json:<field=key ...>').")
    return preset.build()


__all__ += ["JsonFormat", "W3CFormat"]

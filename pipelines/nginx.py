"""nginx `log_format` strings compiled into the same vectorised parsers.

Paste the format as it stands in nginx.conf (the quoted pieces joined):
`nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ...`
compiles to a RegexFormat exactly like an Apache LogFormat. A format written for
`escape=json` (`{"addr":"$remote_addr","time":"$time_iso8601",...}`) compiles to a JSON
format that reads those keys.

Variables with a canonical meaning are read (client, time, request, status, sizes,
referrer, user agent, forwarded-for, host, request time); variables that carry no meaning
for weblog (ports, upstream details, TLS, request ids, other headers, cookies) are matched
and dropped. An unknown variable is one InputError naming it: nginx itself rejects
misspelt variables, so an unknown one is a custom `map`/`set` variable, whose values
weblog cannot delimit safely without knowing them.
"""
from __future__ import annotations

import re

from .apache import join_literals, resolve_clients, time_format_of
from .errors import InputError
from .patterns import APACHE_TIME, QUOTED, Field, RegexFormat, Token

TIME_LOCAL_RE = r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"
ISO8601 = "%Y-%m-%dT%H:%M:%S%z"
ISO8601_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"
# values that may be lists when several upstreams served a request: "a, b : c"
LIST_RE = r"[^\s,]+(?:(?:, | : )[^\s,]+)*"
NUMBER = r"\d+(?:\.\d+)?"

# variable: (canonical name, regex when unquoted, strptime format for time)
VARIABLES: dict[str, tuple[str, str, str]] = {
    "remote_addr": ("client", r"\S+", ""),
    "realip_remote_addr": ("peer", r"\S+", ""),
    "remote_user": ("remote_user", r"\S+", ""),
    "time_local": ("time", TIME_LOCAL_RE, APACHE_TIME),
    "time_iso8601": ("time", ISO8601_RE, ISO8601),
    "msec": ("epoch", NUMBER, ""),
    "request": ("request", r"\S+(?: \S+)*?", ""),
    "request_method": ("method", r"[A-Za-z0-9_-]+", ""),
    "request_uri": ("url", r"\S+", ""),
    "uri": ("url", r"\S+", ""),
    "document_uri": ("url", r"\S+", ""),
    "server_protocol": ("protocol", r"\S+", ""),
    "status": ("status", r"\d{1,3}|-", ""),
    "body_bytes_sent": ("bytes", r"\d+|-", ""),
    "bytes_sent": ("bytes", r"\d+|-", ""),
    "http_referer": ("referrer", r"\S+", ""),
    "http_user_agent": ("user_agent", r"\S+", ""),
    "http_x_forwarded_for": ("forwarded_for", r"\S+(?:, \S+)*", ""),
    "http_forwarded": ("forwarded_for", r"\S+", ""),
    "host": ("vhost", r"[^\s/]+", ""),
    "http_host": ("vhost", r"[^\s/]+", ""),
    "server_name": ("vhost", r"[^\s/]+", ""),
    "request_time": ("time_s", NUMBER, ""),
    "upstream_response_time": ("upstream_time_s", LIST_RE, ""),
}
# matched and dropped: (regex when unquoted)
SKIPPED: dict[str, str] = {
    **dict.fromkeys(("remote_port", "server_port", "request_length", "connection",
                     "connection_requests", "pid", "content_length", "bytes_received"),
                    r"\d+|-"),
    **dict.fromkeys(("args", "query_string", "scheme", "https", "server_addr", "hostname",
                     "request_id", "req_id", "pipe", "gzip_ratio", "content_type", "nginx_version",
                     "request_completion", "server",  # $server: nginx-proxy-manager's "proxy_protocol_addr", "proxy_protocol_port",
                     "binary_remote_addr", "proxy_add_x_forwarded_for", "tcpinfo_rtt",
                     "namespace",
                     "ingress_name", "service_name", "service_port", "realip_remote_port",
                     "geoip_country_code", "geoip2_data_country_code"), r"\S+"),
}
# ingress-nginx writes these in brackets, empty when no upstream was chosen
SKIPPED.update(dict.fromkeys(("proxy_upstream_name", "proxy_alternative_upstream_name"),
                             r"[^\s\]]*"))
SKIPPED_PREFIXES = ("upstream_", "ssl_", "http_", "sent_http_", "sent_trailer_", "cookie_",
                    "arg_", "jwt_", "proxy_protocol_")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _spec(var: str, directive: str) -> tuple[str, str, str]:
    if var in VARIABLES:
        return VARIABLES[var]
    if var in SKIPPED:
        return "skip", SKIPPED[var], ""
    if var.startswith("upstream_"):
        return "skip", LIST_RE, ""
    if var.startswith(SKIPPED_PREFIXES):
        return "skip", r"\S+", ""
    raise InputError(f"nginx variable {directive!r} is not supported: weblog reads the standard "
                     "variables (remote_addr, time_local, request, status, ...) and skips "
                     "ports, upstream, TLS and header variables.")


def compile_nginx(fmt: str, name: str | None = None, description: str = "",
                  **options) -> RegexFormat:
    """Compile an nginx `log_format` string into a RegexFormat (or a JSON format for
    `escape=json` formats that are one JSON object)."""
    text = fmt.strip()
    if text.startswith("{") and text.endswith("}"):
        from .jsonlog import compile_nginx_json

        return compile_nginx_json(text, name, description)  # type: ignore[return-value]
    tokens: list[Token] = []
    pos = 0
    for m in _VARIABLE.finditer(fmt):
        if m.start() > pos:
            tokens.append(fmt[pos:m.start()])
        var = m.group(1) or m.group(2)
        directive = m.group(0)
        canonical, regex, time_format = _spec(var, directive)
        quoted = fmt[:m.start()].endswith('"') and fmt[m.end():].startswith('"')
        if quoted and canonical not in ("time", "epoch", "status", "bytes", "time_s"):
            regex = QUOTED
        tokens.append(Field(canonical, regex, directive, time_format))
        pos = m.end()
    if pos < len(fmt):
        tokens.append(fmt[pos:])
    names = {t.name for t in tokens if isinstance(t, Field)}
    out: list[Token] = []
    for tok in tokens:
        if isinstance(tok, Field) and tok.name == "upstream_time_s":
            # the first upstream's time when the request time is not logged
            tok = Field("skip" if "time_s" in names else tok.name, tok.regex, tok.directive)
        out.append(tok)
    out = join_literals(resolve_clients(out))
    time_format = time_format_of(out, fmt)
    return RegexFormat(name or "nginx", tuple(out), time_format, description, fmt, **options)

"""JSON-lines access logs: Caddy, Traefik, nginx `escape=json`, or any mapping.

A JSON format maps canonical fields to JSON paths (several candidates, the first non-null
wins). DuckDB reads all of a line's paths in one `json_extract_string` call, so each line
is parsed once; a line that is not JSON gives NULLs (`try`) and is rejected. A line is a
record of the format when it has the format's `require` paths; Caddy's other records
(its non-access loggers share the file by default) are rejected as "not an access log
record", which detection does not count against the format.

Times: numbers are seconds since the epoch (milli/micro/nanoseconds when they are that
large), strings are ISO 8601 with an offset or `Z` (exact), without one (site time zone),
or Apache's `10/Nov/2026:13:55:36 +0100`.

`json:` formats map fields by hand: `json:client=remote_addr time=ts request=request
status=status bytes=body_bytes_sent user_agent=http_user_agent` (keys, or JSON paths like
`$.request.headers."User-Agent"[0]`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError
from .parse import NOT_ACCESS, LogFormat, canonical_exprs, epoch_ts, local_ts, select_list, sql_str

ZONED = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%n%z", "%d/%b/%Y:%H:%M:%S %z",
         "%Y-%m-%d %H:%M:%S%z"]
UTC_Z = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%nZ"]
NAIVE = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%n", "%Y-%m-%d %H:%M:%S",
         "%Y-%m-%d %H:%M:%S.%n"]
MAPPABLE = ("client", "remote_user", "time", "epoch", "request", "method", "url", "protocol",
            "status", "bytes", "referrer", "user_agent", "vhost", "time_us", "time_ms", "time_s",
            "time_ns", "upstream_time_s", "forwarded_for")


def _list(items: list[str]) -> str:
    return "[" + ", ".join(map(sql_str, items)) + "]"


def json_time(raw: str, timezone: str) -> str:
    """A UTC TIMESTAMP from a JSON time value of any usual shape."""
    number = f"TRY_CAST({raw} AS DOUBLE)"
    epoch = (f"CASE WHEN {number} < 1e11 THEN {epoch_ts(raw)} "
             f"WHEN {number} < 1e14 THEN {epoch_ts(raw, 1e3)} "
             f"WHEN {number} < 1e17 THEN {epoch_ts(raw, 1e6)} ELSE {epoch_ts(raw, 1e9)} END")
    text = (f"coalesce(timezone('UTC', try_strptime({raw}, {_list(ZONED)})), "
            f"try_strptime({raw}, {_list(UTC_Z)}), "
            f"{local_ts(f'try_strptime({raw}, {_list(NAIVE)})', timezone)})")
    return f"CASE WHEN {number} IS NOT NULL THEN {epoch} ELSE {text} END"


def json_path(key: str) -> str:
    """A JSON path for a key ('remote_addr', 'request.uri') or a path given as '$...'."""
    if key.startswith("$"):
        return key
    parts = key.split(".")
    return "$" + "".join("." + (p if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p)
                                 else '"' + p.replace('"', '\\"') + '"') for p in parts)


@dataclass(frozen=True)
class JsonFormat(LogFormat):
    name: str
    mapping: tuple[tuple[str, tuple[str, ...]], ...]  # canonical -> JSON paths, first non-null
    require: tuple[str, ...] = ()  # paths a record of this format always has
    access_only: tuple[str, str] | None = None  # (path, prefix): other records are not access
    description: str = ""
    source: str = ""

    kind = "json"

    def fields_ctes(self, relation: str, timezone: str) -> str:
        paths: list[str] = []
        for _, candidates in self.mapping:
            paths.extend(p for p in candidates if p not in paths)
        extra = [p for p in (*self.require, *(self.access_only[:1] if self.access_only else ()))
                 if p not in paths]
        paths += extra
        index = {p: i + 1 for i, p in enumerate(paths)}
        raw: dict[str, str] = {}
        for name, candidates in self.mapping:
            exprs = [f"j[{index[p]}]" for p in candidates]
            raw[name] = exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"
        cols = canonical_exprs({k: v for k, v in raw.items() if k != "time"}, "", timezone)
        if "time" in raw:
            cols["ts"] = json_time(raw["time"], timezone)
        required = " AND ".join(f"j[{index[p]}] IS NOT NULL" for p in self.require) or "true"
        other = "false"  # a record of the producer that is not an access log entry
        if self.access_only:
            path, prefix = self.access_only
            other = f"coalesce(NOT starts_with(j[{index[path]}], {sql_str(prefix)}), false)"
        ok = f"(j IS NOT NULL AND {required} AND NOT {other})"
        return f"""json_records AS (
    SELECT line_no, line, try(json_extract_string(line, {_list(paths)})) AS j
    FROM {relation}
),
fields AS (
    SELECT
        line_no,
        CASE WHEN NOT {ok} THEN line END AS line,
        {ok} AS is_match,
        CASE WHEN j IS NOT NULL AND {other} THEN {sql_str(NOT_ACCESS)} END AS reason,
        {select_list(cols)}
    FROM json_records
)"""

    def diagnose(self, line: str) -> str:
        import json

        prefix = f"does not match format {self.name}"
        try:
            doc = json.loads(line)
        except ValueError:
            return f"{prefix}: not a JSON object"
        if not isinstance(doc, dict):
            return f"{prefix}: not a JSON object"
        return f"{prefix}: a JSON record without {', '.join(self.require)}"


def compile_json(spec: str, name: str = "json-custom", description: str = "") -> JsonFormat:
    """`json:` formats: space- or comma-separated `canonical=key` pairs."""
    mapping = []
    for pair in spec.replace(",", " ").split():
        canonical, eq, key = pair.partition("=")
        if not eq or not key:
            raise InputError(f"JSON format item {pair!r} is not 'field=key' (e.g. client=remote_addr).")
        if canonical not in MAPPABLE:
            raise InputError(f"JSON format field {canonical!r} is not supported "
                             f"(known: {', '.join(MAPPABLE)}).")
        mapping.append((canonical, (json_path(key),)))
    names = {c for c, _ in mapping}
    if not names & {"time", "epoch"}:
        raise InputError("A JSON format needs a time field (time=... or epoch=...).")
    require = tuple(p for c, (p,) in mapping if c in ("time", "epoch"))
    return JsonFormat(name, tuple(mapping), require, None, description, "json:" + spec)


_NGINX_PAIR = re.compile(r'"([^"\\]+)"\s*:\s*"?\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))"?')


def compile_nginx_json(template: str, name: str | None = None,
                       description: str = "") -> JsonFormat:
    """An nginx `escape=json` log_format that is one JSON object of variables."""
    from .nginx import VARIABLES, _spec

    mapping: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for m in _NGINX_PAIR.finditer(template):
        key, var = m.group(1), m.group(2) or m.group(3)
        canonical = _spec(var, "$" + var)[0]
        if var in VARIABLES and canonical == "peer":
            canonical = "client"
        if canonical in ("skip", "peer") or canonical in seen:
            continue
        if canonical == "upstream_time_s" and "time_s" in seen:
            continue
        seen.add(canonical)
        mapping.append((canonical, (json_path(key),)))
    if not seen & {"time", "epoch"}:
        raise InputError("This nginx JSON log_format has no time variable ($time_iso8601, "
                         "$time_local or $msec).")
    require = tuple(p for c, (p,) in mapping if c in ("time", "epoch"))
    return JsonFormat(name or "nginx-json", tuple(mapping), require, None, description,
                      "nginx:" + template)


CADDY = JsonFormat(
    "caddy",
    (("client", ('$.request.client_ip', '$.request.remote_ip')),
     ("remote_user", ('$.user_id',)),
     ("time", ('$.ts',)),
     ("method", ('$.request.method',)),
     ("url", ('$.request.uri',)),
     ("protocol", ('$.request.proto',)),
     ("vhost", ('$.request.host',)),
     ("status", ('$.status',)),
     ("bytes", ('$.size',)),
     ("time_s", ('$.duration',)),
     ("referrer", ('$.request.headers.Referer[0]',)),
     ("user_agent", ('$.request.headers."User-Agent"[0]',)),
     ("forwarded_for", ('$.request.headers."X-Forwarded-For"[0]',))),
    require=('$.ts', '$.request.method'),
    access_only=('$.logger', 'http.log.access'),
    description="Caddy's JSON access log (client_ip, else remote_ip; duration in seconds).",
)
TRAEFIK = JsonFormat(
    "traefik_json",
    (("client", ('$.ClientHost',)),
     ("remote_user", ('$.ClientUsername',)),
     ("time", ('$.StartUTC', '$.time')),
     ("method", ('$.RequestMethod',)),
     ("url", ('$.RequestPath',)),
     ("protocol", ('$.RequestProtocol',)),
     ("vhost", ('$.RequestHost',)),
     ("status", ('$.DownstreamStatus',)),
     ("bytes", ('$.DownstreamContentSize',)),
     ("time_ns", ('$.Duration',)),
     ("referrer", ('$."request_Referer"',)),
     ("user_agent", ('$."request_User-Agent"',)),
     ("forwarded_for", ('$."request_X-Forwarded-For"',))),
    require=('$.ClientHost', '$.RequestMethod'),
    description="Traefik's JSON access log (Duration in nanoseconds; StartUTC, else time).",
)
NGINX_JSON = JsonFormat(
    "nginx_json",
    (("client", ('$.ip',)),
     ("time", ('$.date',)),
     ("vhost", ('$.host',)),
     ("url", ('$.path',)),
     ("status", ('$.status',)),
     ("bytes", ('$.length',)),
     ("referrer", ('$.referrer',)),
     ("user_agent", ('$.user_agent',)),
     ("time_ms", ('$.generation_time_milli',))),
    require=('$.ip', '$.date'),
    description="nginx escape=json with the keys Matomo's log importer documents "
                "(ip, host, path, status, referrer, user_agent, length, date, ...).",
)

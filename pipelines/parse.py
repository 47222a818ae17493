"""Parse a chunk of lines into canonical request columns, vectorised in DuckDB.

Every log format (regex formats compiled from Apache/nginx strings, W3C extended, JSON
lines) is a `LogFormat`: it writes the SQL of a CTE named `fields` over a relation of
(line_no, line), one row per line, with the columns in `FIELD_COLUMNS`. `parse_sql` adds
what every format shares: splitting a logged request line into method, URL and protocol,
absolute-form URLs of load balancers, the reject reason, and NULL fields on rejected rows.
So ingest never knows which kind of format it reads.

`parse_sql(fmt, relation, timezone)` returns one SELECT yielding, for every line, the
canonical columns below plus `reject`: NULL when the line parsed, else the reason. Nothing
is filtered here: the caller materialises the result once and routes rows to RAW, DETAIL
and rejects (filtering on an extracted field in the same query makes DuckDB run the
regexes twice, ../shared/PERF-NOTES.md point 4).

Canonical columns (all may be NULL when the format does not log them):
    line_no BIGINT, reject VARCHAR, client VARCHAR, remote_user VARCHAR,
    ts TIMESTAMP (UTC instant), vhost VARCHAR, method VARCHAR, url VARCHAR,
    protocol VARCHAR, request VARCHAR (as logged), status SMALLINT, bytes BIGINT,
    referrer VARCHAR, user_agent VARCHAR, time_served_ms DOUBLE, forwarded_for VARCHAR

Formats whose meaning depends on earlier lines (W3C `#Fields:` headers) are bound to a
chunk first: `fmt.bind(table, carry)` returns the format to use for that chunk and the
state to carry into the next one. Stateless formats return themselves.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa

COLUMNS = (
    "line_no", "reject", "client", "remote_user", "ts", "vhost", "method", "url", "protocol",
    "request", "status", "bytes", "referrer", "user_agent", "time_served_ms", "forwarded_for",
)
# what a format's `fields` CTE yields: `line` only on unmatched rows (for the blank/comment
# reasons), `is_match`, and `reason` (a format's own reject reason for unmatched rows)
FIELD_COLUMNS = ("line_no", "line", "is_match", "reason", *COLUMNS[2:])
METHOD_RE = r"[A-Za-z][A-Za-z0-9_.-]{0,31}"
PROTOCOL_RE = r"[A-Za-z]+/[0-9.]+"
# values METHOD_RE and PROTOCOL_RE match, compared before them (OR evaluates its second
# operand only on the rows the first left false): ~4% of the parse
COMMON_METHODS = "('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH')"
COMMON_PROTOCOLS = "('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/2', 'HTTP/3')"
# slow path for requests that are not "METHOD URL PROTOCOL" (HTTP/0.9, spaces in the URL)
REQUEST_RE = rf"^({METHOD_RE}) (\S(?:.*?\S)?)(?: ({PROTOCOL_RE}))?$"
# a record of the format's producer that is not a request (Caddy's other loggers, HAProxy's
# "Proxy started"): rejected with this reason, which detection does not count
NOT_ACCESS = "not an access log record"
# a request target in absolute form (load balancers, proxies): scheme://authority/path
ABSOLUTE_URL_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://(\[[^\]]*\]|[^/?#:]*)(?::[0-9]*)?([/?#].*)?$"


class LogFormat:
    """What every log format provides. Subclasses are frozen dataclasses."""

    name: str
    kind: str = "?"
    description: str = ""
    source: str = ""  # the string it was compiled from, if any
    absolute_urls = False  # URLs may be absolute (https://host/path): keep the path, host -> vhost
    stateful = False  # needs `bind` with the state of earlier lines (W3C headers)

    def fields_ctes(self, relation: str, timezone: str) -> str:
        """CTE definitions ending in one named `fields` (see FIELD_COLUMNS)."""
        raise NotImplementedError

    def diagnose(self, line: str) -> str:
        """Why a line does not match (names fields, never quotes the line)."""
        return f"does not match format {self.name}"

    def presplit(self, table: pa.Table) -> pa.Table | None:
        """`table` (line_no, line) with its fields split out by compiled code, for
        `parse_sql(..., presplit=True)`; None when the format has no compiled path."""
        return None

    def bind(self, table: pa.Table, carry: Any = None) -> tuple["LogFormat", Any]:
        """The format to parse this chunk with, and the state for the next chunk."""
        return self, None

    def parse_sql(self, relation: str, timezone: str) -> str:
        return parse_sql(self, relation, timezone)


def sql_str(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def dash_null(expr: str) -> str:
    """NULL for the empty string and '-' (how logs write 'no value')."""
    return f"nullif(nullif({expr}, ''), '-')"


def ts_expr(raw: str, time_format: str | list[str], timezone: str) -> str:
    """A UTC TIMESTAMP from text: with an offset in the format it is exact, without one the
    text is local time in the site time zone."""
    formats = [time_format] if isinstance(time_format, str) else time_format
    arg = sql_str(formats[0]) if len(formats) == 1 else "[" + ", ".join(map(sql_str, formats)) + "]"
    parsed = f"try_strptime({raw}, {arg})"
    if any("%z" in f or "%Z" in f for f in formats):
        # %n gives TIMESTAMPTZ_NS, whose microseconds DuckDB's conversion truncates
        nanos = any("%n" in f for f in formats)
        ts = f"timezone('UTC', {parsed})" if nanos else utc_wall(parsed)
        if all(f.endswith("%z") for f in formats):
            ts = f"CASE WHEN {offset_possible(raw)} THEN {ts} END"
        return ts
    if all(f.endswith("Z") for f in formats):  # ISO 8601 in UTC ('...T23:39:43.945958Z')
        return parsed
    return local_ts(parsed, timezone)


def offset_possible(raw: str) -> str:
    """SQL: the UTC offset that ends `raw` ('+HHMM' or '+HH:MM') is one a clock can show:
    at most 14 hours, minutes under 60. DuckDB's %z reads '+9999' as 99 h 99 min, which
    would move a forged line four days away; such a time is unreadable. Other endings
    ('Z', '+HH') are left to strptime. ~0.06 CPU-s per 1M lines measured alone; a
    whole 1M-line ingest showed no difference side by side."""
    hhmm = f"abs(TRY_CAST(replace(right({raw}, 5), ':', '') AS SMALLINT))"
    return f"coalesce({hhmm} <= 1400 AND {hhmm} % 100 < 60, true)"


def utc_wall(expr: str) -> str:
    """The UTC wall time (a naive TIMESTAMP) of a TIMESTAMPTZ expression (microseconds, not
    TIMESTAMPTZ_NS). The same value as timezone('UTC', expr), read off the instant's
    microseconds instead of through ICU's time zone lookup per row: 0.16 -> 0.09 CPU-s for
    1M Apache timestamps."""
    return f"make_timestamp(epoch_us({expr}))"


def local_ts(expr: str, timezone: str) -> str:
    """A naive TIMESTAMP read as wall time in `timezone`, as a UTC instant."""
    if timezone == "UTC":
        return expr
    return f"timezone('UTC', timezone({sql_str(timezone)}, {expr}))"


def epoch_ts(raw: str, scale: float = 1.0) -> str:
    """A UTC TIMESTAMP from seconds (or ms/us with `scale`) since the epoch; junk is NULL."""
    value = f"TRY_CAST({raw} AS DOUBLE)" + (f" / {scale}" if scale != 1.0 else "")
    # 1970..2100: to_timestamp raises out of range, and nothing else is a log's time
    return (f"CASE WHEN {value} BETWEEN 0 AND 4102444800 "
            f"THEN {utc_wall(f'to_timestamp({value})')} END")


def duration_ms(raw: str, unit: str) -> str:
    """Time served in milliseconds from a number in `unit` (us, ms, s, ns); negative is NULL
    (load balancers log -1 for 'not measured')."""
    factor = {"us": " / 1000.0", "ms": "", "s": " * 1000.0", "ns": " / 1000000.0"}[unit]
    value = f"TRY_CAST({raw} AS DOUBLE)"
    return f"CASE WHEN {value} >= 0 THEN {value}{factor} END"


EPOCH_SCALE = {"epoch": 1.0, "epoch_ms": 1000.0, "epoch_us": 1000000.0}
SERVED_UNIT = {"time_us": "us", "time_ms": "ms", "time_s": "s", "time_ns": "ns"}
TEXT_COLUMNS = ("client", "remote_user", "vhost", "method", "url", "protocol", "request",
                "referrer", "user_agent", "forwarded_for")


MAX_BYTES = 1 << 40  # 1 TiB: no single response is larger


def canonical_exprs(raw: dict[str, str], time_format: str | tuple[str, ...] | list[str],
                    timezone: str) -> dict[str, str]:
    """Typed SQL for the canonical columns from raw text expressions keyed by canonical field
    name (client, time/epoch*, status, bytes, time_us/ms/s/ns, ...); absent ones are NULL."""
    cols = {name: dash_null(raw[name]) if name in raw else "NULL::VARCHAR"
            for name in TEXT_COLUMNS}
    if "time" in raw:
        formats = [time_format] if isinstance(time_format, str) else list(time_format)
        cols["ts"] = ts_expr(raw["time"], formats, timezone)
    else:
        cols["ts"] = next((epoch_ts(raw[n], scale) for n, scale in EPOCH_SCALE.items()
                           if n in raw), "NULL::TIMESTAMP")
    cols["status"] = f"TRY_CAST({raw['status']} AS SMALLINT)" if "status" in raw \
        else "NULL::SMALLINT"
    # a size that is no number, negative or above MAX_BYTES (forged or broken) counts as 0,
    # so that one line cannot overflow a day's byte total
    size = f"TRY_CAST({raw['bytes']} AS BIGINT)" if "bytes" in raw else "0"
    cols["bytes"] = f"coalesce(CASE WHEN {size} BETWEEN 0 AND {MAX_BYTES} THEN {size} END, 0)"
    if "upstream_time_s" in raw:  # nginx: "0.100, 0.004" when several upstreams served it
        raw = {**raw, "time_s": f"split_part({raw['upstream_time_s']}, ',', 1)"}
    cols["time_served_ms"] = next((duration_ms(raw[n], unit) for n, unit in SERVED_UNIT.items()
                                   if n in raw), "NULL::DOUBLE")
    return cols


def select_list(cols: dict[str, str]) -> str:
    """`expr AS name` for the canonical columns of a `fields` CTE, in FIELD_COLUMNS order."""
    return ",\n        ".join(f"{cols[name]} AS {name}" for name in FIELD_COLUMNS[4:])


def parse_sql(fmt: LogFormat, relation: str, timezone: str, presplit: bool = False) -> str:
    """SELECT producing COLUMNS for every row of `relation` (line_no, line; with `presplit`,
    the columns `fmt.presplit` added too)."""
    slow = ", ".join(f"nullif(regexp_extract(request, {sql_str(REQUEST_RE)}, {k}), '')"
                     for k in (1, 2, 3))
    # fast path: split on spaces; the regex runs only for the odd ones out
    # (CASE evaluates each branch only on the rows it selects)
    req = f"""CASE
            WHEN method IS NOT NULL OR request IS NULL THEN NULL
            WHEN len(sp) = 3 AND sp[2] <> ''
                 AND (sp[1] IN {COMMON_METHODS} OR regexp_full_match(sp[1], {sql_str(METHOD_RE)}))
                 AND (sp[3] IN {COMMON_PROTOCOLS}
                      OR regexp_full_match(sp[3], {sql_str(PROTOCOL_RE)})) THEN sp
            ELSE [{slow}]
            END"""
    url = "coalesce(url, req[2])"
    vhost = "vhost"
    if fmt.absolute_urls:
        parts = f"regexp_extract({url}, {sql_str(ABSOLUTE_URL_RE)}, ['host', 'rest'])"
        url = f"CASE WHEN regexp_matches({url}, '^[A-Za-z][A-Za-z0-9+.-]*://') " \
              f"THEN coalesce(nullif({parts}.rest, ''), '/') ELSE {url} END"
        vhost = f"coalesce(vhost, nullif(lower(trim(regexp_extract(coalesce(url, req[2]), " \
                f"{sql_str(ABSOLUTE_URL_RE)}, 1), '[]')), ''))"
    exprs = {"method": "coalesce(method, req[1])", "url": url,
             "protocol": "coalesce(protocol, req[3])", "vhost": vhost}
    generic = sql_str("does not match format " + fmt.name)
    final = ",\n    ".join(f"CASE WHEN reject IS NULL THEN {exprs.get(name, name)} END AS {name}"
                           for name in COLUMNS[2:])
    return f"""
WITH {fmt.fields_ctes(relation, timezone, presplit=True) if presplit
      else fmt.fields_ctes(relation, timezone)},
requests AS (
    SELECT * EXCLUDE (vhost), lower(vhost) AS vhost, string_split(request, ' ') AS sp
    FROM fields
),
split AS (
    SELECT *, {req} AS req FROM requests
),
judged AS (
    SELECT *,
        CASE
            WHEN NOT is_match AND reason IS NOT NULL THEN reason
            WHEN NOT is_match AND regexp_full_match(line, '\\s*') THEN 'blank line'
            WHEN NOT is_match AND starts_with(line, '#') THEN 'comment line'
            WHEN NOT is_match THEN {generic}
            WHEN ts IS NULL THEN 'unreadable timestamp'
        END AS reject
    FROM split
)
SELECT
    line_no,
    reject,
    {final}
FROM judged
"""

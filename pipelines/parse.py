"""Parse a chunk of lines into canonical request columns, vectorised in DuckDB.

`parse_sql(fmt, relation, timezone)` returns one SELECT over a relation of (line_no, line)
that yields, for every line, the canonical columns below plus `reject`: NULL when the
line parsed, else the reason. Nothing is filtered here: the caller materialises the result
once and routes rows to RAW, DETAIL and rejects (filtering on an extracted field in the
same query makes DuckDB run the regexes twice, ../shared/PERF-NOTES.md point 4).

Canonical columns (all may be NULL when the format does not log them):
    line_no BIGINT, reject VARCHAR, client VARCHAR, remote_user VARCHAR,
    ts TIMESTAMP (UTC instant), vhost VARCHAR, method VARCHAR, url VARCHAR,
    protocol VARCHAR, request VARCHAR (as logged), status SMALLINT, bytes BIGINT,
    referrer VARCHAR, user_agent VARCHAR, time_served_ms DOUBLE, forwarded_for VARCHAR
"""
from __future__ import annotations

from .formats import RegexFormat

COLUMNS = (
    "line_no", "reject", "client", "remote_user", "ts", "vhost", "method", "url", "protocol",
    "request", "status", "bytes", "referrer", "user_agent", "time_served_ms", "forwarded_for",
)
METHOD_RE = r"[A-Za-z][A-Za-z0-9_.-]{0,31}"
PROTOCOL_RE = r"[A-Za-z]+/[0-9.]+"
# slow path for requests that are not "METHOD URL PROTOCOL" (HTTP/0.9, spaces in the URL)
REQUEST_RE = rf"^({METHOD_RE}) (\S(?:.*?\S)?)(?: ({PROTOCOL_RE}))?$"


def sql_str(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _dash_null(expr: str) -> str:
    return f"nullif(nullif({expr}, ''), '-')"


def _ts_expr(raw: str, time_format: str, timezone: str) -> str:
    parsed = f"try_strptime({raw}, {sql_str(time_format)})"
    if "%z" in time_format or "%Z" in time_format:
        return f"timezone('UTC', {parsed})"
    # naive local time as written: interpret it in the site time zone
    return f"timezone('UTC', timezone({sql_str(timezone)}, {parsed}))"


def parse_sql(fmt: RegexFormat, relation: str, timezone: str) -> str:
    """SELECT producing COLUMNS for every row of `relation` (line_no, line)."""
    extracts = []
    where: dict[str, str] = {}
    for k, (pattern, names) in enumerate(fmt.patterns):
        alias = f"g{k}"
        name_list = ", ".join(sql_str(n) for n in names)
        extracts.append(f"regexp_extract(line, {sql_str(pattern)}, [{name_list}]) AS {alias}")
        for n in names:
            where[n] = f"{alias}.{n}"
    have = set(where)

    def col(name: str) -> str | None:
        return where.get(name)

    def text(name: str) -> str:
        return _dash_null(col(name)) if name in have else "NULL::VARCHAR"

    if "request" in have:
        request = text("request")
        # fast path: split on spaces; the regex runs only for the odd ones out
        # (CASE evaluates each branch only on the rows it selects)
        slow = ", ".join(f"nullif(regexp_extract(request, {sql_str(REQUEST_RE)}, {k}), '')"
                         for k in (1, 2, 3))
        req = f"""CASE
            WHEN len(sp) = 3 AND sp[2] <> '' AND regexp_full_match(sp[1], {sql_str(METHOD_RE)})
                 AND regexp_full_match(sp[3], {sql_str(PROTOCOL_RE)}) THEN sp
            WHEN request IS NOT NULL THEN [{slow}]
            END"""
        method, url, protocol = "req[1]", "req[2]", "req[3]"
    else:
        request = "NULL::VARCHAR"
        req = "NULL::VARCHAR[]"
        method, url, protocol = text("method"), text("url"), text("protocol")
    if "time_us" in have:
        served = f"TRY_CAST({col('time_us')} AS DOUBLE) / 1000.0"
    elif "time_ms" in have:
        served = f"TRY_CAST({col('time_ms')} AS DOUBLE)"
    elif "time_s" in have:
        served = f"TRY_CAST({col('time_s')} AS DOUBLE) * 1000.0"
    else:
        served = "NULL::DOUBLE"
    ts = _ts_expr(col("time"), fmt.time_format, timezone) if "time" in have else "NULL::TIMESTAMP"
    status = f"TRY_CAST({col('status')} AS SMALLINT)" if "status" in have else "NULL::SMALLINT"
    nbytes = f"coalesce(TRY_CAST({col('bytes')} AS BIGINT), 0)" if "bytes" in have else "0::BIGINT"
    vhost = f"lower({text('vhost')})"
    end = col(fmt.sentinel)
    return f"""
WITH matched AS (
    SELECT line_no, line, {", ".join(extracts)}
    FROM {relation}
),
fields AS (
    SELECT
        line_no,
        CASE WHEN {end} = '' THEN line END AS line,
        {end} <> '' AS is_match,
        {text('client')} AS client,
        {text('remote_user')} AS remote_user,
        {ts} AS ts,
        {vhost} AS vhost,
        {request} AS request,
        string_split({request}, ' ') AS sp,
        {status} AS status,
        {nbytes} AS bytes,
        {text('referrer')} AS referrer,
        {text('user_agent')} AS user_agent,
        {served} AS time_served_ms,
        {text('forwarded_for')} AS forwarded_for
    FROM matched
),
requests AS (
    SELECT *, {req} AS req FROM fields
),
judged AS (
    SELECT *,
        CASE
            WHEN NOT is_match AND regexp_full_match(line, '\\s*') THEN 'blank line'
            WHEN NOT is_match THEN {sql_str('does not match format ' + fmt.name)}
            WHEN ts IS NULL THEN 'unreadable timestamp'
        END AS reject
    FROM requests
)
SELECT
    line_no,
    reject,
    {_only_parsed(method, url, protocol)}
FROM judged
"""


def _only_parsed(method: str, url: str, protocol: str) -> str:
    """The canonical columns, NULL on rejected rows."""
    exprs = {"method": method, "url": url, "protocol": protocol}
    return ",\n    ".join(f"CASE WHEN reject IS NULL THEN {exprs.get(name, name)} END AS {name}"
                           for name in COLUMNS[2:])


"""W3C extended log files (IIS, Netscaler, Shoutcast, Incapsula, ...) and CloudFront.

A W3C file says what its columns are in `#Fields:` directive lines; a file may hold several
header blocks with different fields (IIS writes one at every restart). So the format is
bound to each chunk (`bind`): the directive lines of the chunk are found with one
vectorised scan, each starts a block, and the blocks become a small VALUES table that the
lines join with an ASOF join on the line number. Per block, Python works out at which
position each canonical field sits; per line, SQL splits the values once (on single
spaces or tabs, or with a regex when quotes or runs of blanks appear) and picks them by
position. The state after the chunk (fields, #Date, #Software, #GMT-Offset) is carried into
the next chunk, and rebuilt from the file's directive lines when a growing file is resumed.

Values: `-` and `""` are empty; quoted values lose their quotes (`""` inside is a quote).
Times are UTC (the W3C rule), `date-local`/`time-local` are site-local, a `#GMT-Offset`
directive shifts them. Without a `date` field the block's `#Date` gives the day.
`time-taken` is milliseconds in files from IIS (their `#Software` names Microsoft IIS, and
`w3c:` field lists given by hand), seconds otherwise (the W3C rule: Netscaler, CloudFront).
The user agent is percent-decoded (IIS's `+` for a space is kept as logged). CloudFront's is
encoded twice, so it is decoded twice.

A line whose number of values differs from its header's is rejected with that reason;
lines before any `#Fields:` header are rejected with "no #Fields header" (give the fields
as `w3c:date time c-ip ...` for headerless files).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .parse import LogFormat, canonical_exprs, duration_ms, select_list, sql_str

# canonical field -> W3C names, most preferred first (names are compared lower-case)
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "client": ("c-ip",),
    "remote_user": ("cs-username", "c-auth-id"),
    "date": ("date", "date-local"),
    "time": ("time", "time-local"),
    "method": ("cs-method",),
    "stem": ("cs-uri-stem",),
    "query": ("cs-uri-query",),
    "uri": ("cs-uri",),
    "protocol": ("cs-version", "cs-protocol-version"),
    "status": ("sc-status", "c-status"),
    "bytes": ("sc-bytes", "bytes"),
    "referrer": ("cs(referer)", "cs(referrer)", "c-referrer"),
    "user_agent": ("cs(user-agent)", "c-user-agent"),
    "vhost": ("x-host-header", "cs-host", "cs(host)"),
    "taken": ("time-taken",),
    "taken_ms": ("timetakenms", "time-taken-ms"),
    "taken_s": ("x-duration",),
    "forwarded_for": ("x-forwarded-for", "cs(x-forwarded-for)", "s-xff"),
}
POSITIONS = tuple(FIELD_NAMES)
CLOUDFRONT_FIELDS = tuple(
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end".split())
CLOUDFRONT_MIN_FIELDS = 19  # older headerless CloudFront logs end after time-taken
TOKEN_RE = r'"(?:[^"]|"")*"|[^\s]+'
HOST_PREFIX_RE = r"^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?/"
WS = " " + chr(9) + chr(13) + chr(10)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True)
class Header:
    """The directive state that governs the lines after it."""

    fields: tuple[str, ...] | None = None
    date: str | None = None  # YYYY-MM-DD of the last #Date
    software: str = ""
    offset_minutes: int = 0  # #GMT-Offset (times are local at that offset)

    def after(self, directive: str) -> "Header":
        name, _, value = directive[1:].partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "fields":
            return replace(self, fields=tuple(value.split()) or None)
        if name in ("date", "start-date"):
            day = value[:10]
            return replace(self, date=day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else self.date)
        if name == "software":
            return replace(self, software=value)
        if name == "gmt-offset":
            m = _OFFSET.match(value)
            if m:
                minutes = int(m[2]) * 60 + int(m[3])
                return replace(self, offset_minutes=minutes if m[1] == "+" else -minutes)
        return self


@dataclass(frozen=True)
class W3CFormat(LogFormat):
    name: str = "w3c"
    description: str = ""
    source: str = ""
    fields: tuple[str, ...] = ()  # given by hand (w3c:...): used until a #Fields header
    cloudfront: bool = False
    blocks: tuple[tuple[int, Header], ...] = field(default=(), compare=False)

    kind = "w3c"
    stateful = True
    absolute_urls = True  # a cs-uri-stem may be 'rtmp://host/path' (CloudFront RTMP)

    @property
    def initial(self) -> Header:
        if self.fields:
            return Header(self.fields, software="(fields given in the format)")
        if self.cloudfront:
            return Header(CLOUDFRONT_FIELDS, software="Amazon CloudFront")
        return Header()

    def bind(self, table: pa.Table, carry: Any = None) -> tuple["W3CFormat", Header]:
        state: Header = carry if isinstance(carry, Header) else self.initial
        blocks = [(0, state)]
        lines = table.column("line")
        mask = pc.starts_with(lines, "#")
        if pc.any(mask).as_py():
            found = table.filter(mask)
            for line_no, text in zip(found.column("line_no").to_pylist(),
                                     found.column("line").to_pylist()):
                state = state.after(text.rstrip(WS))
                blocks.append((line_no, state))
        return replace(self, blocks=tuple(blocks)), state

    def _block_row(self, start: int, header: Header) -> str:
        names = [n.lower() for n in header.fields or ()]
        usable = header.fields is not None and (
            not self.cloudfront or {"x-edge-location", "x-edge-request-id"} & set(names))
        pos = {}
        for key, wanted in FIELD_NAMES.items():
            found = next((names.index(w) + 1 for w in wanted if w in names), None)
            pos[key] = str(found) if usable and found else "NULL"
        local = {"date": "date-local" in names, "time": "time-local" in names}
        if self.fields and header.fields == self.fields:
            taken_ms = True  # fields given by hand: IIS's milliseconds
        else:
            taken_ms = not self.cloudfront and ("microsoft" in header.software.lower()
                                                or "iis" in header.software.lower())
        n = len(names) if usable else None
        low = CLOUDFRONT_MIN_FIELDS if (self.cloudfront and header.fields == CLOUDFRONT_FIELDS
                                        and usable) else n
        headerless_cloudfront = low != n
        values = [str(start), str(n) if n else "NULL", str(low) if low else "NULL",
                  "true" if headerless_cloudfront else "false",
                  "true" if header.fields is not None and not usable else "false",
                  *pos.values(), sql_str(header.date) if header.date else "NULL::VARCHAR",
                  str(header.offset_minutes), "true" if (local["date"] or local["time"]) else "false",
                  "true" if taken_ms else "false"]
        return "(" + ", ".join(values) + ")"

    def fields_ctes(self, relation: str, timezone: str) -> str:
        blocks = self.blocks or ((0, self.initial),)
        columns = ["start", "nfields", "minfields", "tabs", "alien", *(f"p_{k}" for k in POSITIONS),
                   "hdr_date", "offset_minutes", "local_time", "taken_ms"]
        rows = ",\n        ".join(self._block_row(s, h) for s, h in blocks)
        join = ("ASOF LEFT JOIN w3c_blocks b ON l.line_no >= b.start" if len(blocks) > 1
                else "CROSS JOIN w3c_blocks b")

        def v(key: str) -> str:
            raw = f"v[p_{key}]"
            return f"CASE WHEN starts_with({raw}, '\"') AND ends_with({raw}, '\"') AND len({raw}) >= 2 " \
                   f"THEN replace({raw}[2:-2], '\"\"', '\"') ELSE {raw} END"

        decode = "url_decode(url_decode({}))" if self.cloudfront else "url_decode({})"
        day = f"coalesce({v('date')}, hdr_date)"
        stamp = f"try_strptime({day} || ' ' || {v('time')}, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M:%S.%f'])"
        raw = {
            "client": v("client"), "remote_user": v("remote_user"), "method": v("method"),
            "protocol": v("protocol"), "status": v("status"), "bytes": v("bytes"),
            "referrer": v("referrer"), "user_agent": decode.format(v("user_agent")),
            "forwarded_for": v("forwarded_for"),
            # the query is its own field; a cs-uri may start with the host (Incapsula)
            "url": f"coalesce(nullif(nullif({v('stem')}, '-'), ''), "
                   f"regexp_replace({v('uri')}, {sql_str(HOST_PREFIX_RE)}, '/')) || "
                   f"coalesce('?' || nullif(nullif({v('query')}, '-'), ''), '')",
            "vhost": f"coalesce({v('vhost')}, nullif(regexp_extract({v('uri')}, "
                     f"{sql_str(HOST_PREFIX_RE)}, 1), ''))",
        }
        cols = canonical_exprs(raw, "", timezone)
        cols["time_served_ms"] = (
            f"coalesce(CASE WHEN taken_ms THEN {duration_ms(v('taken'), 'ms')} "
            f"ELSE {duration_ms(v('taken'), 's')} END, {duration_ms(v('taken_ms'), 'ms')}, "
            f"{duration_ms(v('taken_s'), 's')})")
        tz = sql_str(timezone)
        cols["ts"] = (f"CASE WHEN local_time THEN timezone('UTC', timezone({tz}, {stamp})) "
                      f"ELSE {stamp} - to_minutes(offset_minutes) END")
        # CloudFront without a header: tab-separated lines only
        ok = ("(NOT directive AND nfields IS NOT NULL AND len(v) BETWEEN minfields AND nfields "
              "AND (NOT tabs OR contains(t, chr(9))))")
        return f"""w3c_blocks({", ".join(columns)}) AS (
    VALUES
        {rows}
),
w3c_lines AS (
    SELECT l.line_no, l.line, b.*, starts_with(l.line, '#') AS directive,
        trim(l.line, {sql_str(WS)}) AS t
    FROM {relation} l {join}
),
w3c_values AS (
    SELECT *,
        CASE WHEN contains(t, '"') OR contains(t, '  ') OR (contains(t, chr(9)) AND contains(t, ' '))
                  OR contains(t, chr(9) || chr(9))
             THEN regexp_extract_all(t, {sql_str(TOKEN_RE)})
             WHEN contains(t, chr(9)) THEN string_split(t, chr(9))
             WHEN t = '' THEN []::VARCHAR[]
             ELSE string_split(t, ' ') END AS v
    FROM w3c_lines
),
fields AS (
    SELECT
        line_no,
        CASE WHEN NOT {ok} THEN line END AS line,
        {ok} AS is_match,
        CASE
            WHEN directive THEN 'W3C directive line'
            WHEN t = '' THEN NULL
            WHEN alien THEN {sql_str(f"the #Fields header is not one of format {self.name}")}
            WHEN nfields IS NULL THEN {sql_str("no #Fields header before this line (for a file without one, give the fields: format 'w3c:date time c-ip ...')")}
            WHEN len(v) NOT BETWEEN minfields AND nfields
                THEN len(v) || ' values where the #Fields header lists ' || nfields
            WHEN tabs AND NOT contains(t, chr(9)) THEN 'not tab-separated like CloudFront logs'
        END AS reason,
        {select_list(cols)}
    FROM w3c_values
)"""

    def diagnose(self, line: str) -> str:
        return f"does not match format {self.name}"


def compile_w3c(fields: str, name: str = "w3c-custom", description: str = "") -> W3CFormat:
    """A W3C format whose fields are given by hand (headerless files)."""
    names = tuple(fields.replace(",", " ").split())
    if not names:
        from .errors import InputError

        raise InputError("Format 'w3c:' needs the field names, e.g. 'w3c:date time c-ip "
                         "cs-method cs-uri-stem sc-status'.")
    return W3CFormat(name, description, "w3c:" + fields, names)

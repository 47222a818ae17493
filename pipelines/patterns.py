"""Regex log formats: literals and fields compiled to ≤4-group RE2 patterns.

A regex format is a sequence of literal text and fields. Each field has a canonical name
(what the parser turns it into) and a sub-pattern without capture groups. Compiling a
format gives several anchored patterns of at most four capture groups each, because
RE2's fast one-pass matcher stops above that (../shared/PERF-NOTES.md); the last pattern
spans the whole line and also captures one literal as a sentinel, so "matched" is known
without another regex pass. Apache `LogFormat` strings (pipelines.apache) and nginx
`log_format` strings (pipelines.nginx) compile to this; so do the load-balancer presets.

Canonical field names:
    client, remote_user, time (text in the format's `time_format`), epoch, epoch_ms,
    epoch_us (time since 1970), request, method, url, protocol, status, bytes, referrer,
    user_agent, vhost, time_us, time_ms, time_s (time served), forwarded_for
Fields named "skip" are matched but not captured.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from .errors import InputError
from .parse import NOT_ACCESS, LogFormat, canonical_exprs, select_list, sql_str

try:  # compiled at install (setup.py); without it every format parses with RE2
    from . import _fastsplit
except ImportError:  # pragma: no cover - a checkout whose extension was not built
    _fastsplit = None

QUOTED = r'(?:[^"\\]|\\.)*'
CANONICAL = (
    "client", "remote_user", "time", "epoch", "epoch_ms", "epoch_us", "request", "method",
    "url", "protocol", "status", "bytes", "referrer", "user_agent", "vhost", "time_us",
    "time_ms", "time_s", "upstream_time_s", "forwarded_for",
)

APACHE_TIME = "%d/%b/%Y:%H:%M:%S %z"
# field regexes pipelines._fastsplit scans without RE2, by its kind number
NATIVE_KINDS = {r"\S+": 1, r"[^\]]+": 2, QUOTED: 3, r"\d+|-": 4, r"\d{1,3}|-": 5, r"\d+": 6}
MATCH_COLUMN = "f__match"  # presplit: the line matches the format
FIELD_PREFIX = "f_"  # presplit: a captured field's text
_META = set(".^$|?*+()[]{}\\")


def escape(text: str) -> str:
    """Escape a literal for both RE2 and Python's re (no escaping of spaces)."""
    return "".join("\\" + c if c in _META else c for c in text)


@dataclass(frozen=True)
class Field:
    name: str
    regex: str
    directive: str = ""  # what it was compiled from ('%h', '$remote_addr'), for messages
    time_format: str = ""  # strptime format of a `time` field


Token = str | Field


@dataclass(frozen=True)
class RegexFormat(LogFormat):
    """A line format: literals and fields, compiled into ≤4-group anchored patterns."""

    name: str
    tokens: tuple[Token, ...]
    time_format: str | tuple[str, ...] = APACHE_TIME
    description: str = ""
    source: str = ""
    trailing: bool = True  # accept extra space-separated fields after the last one
    absolute_urls: bool = False
    not_access: str = ""  # regex of the producer's lines that are not requests

    kind = "regex"

    def fields_ctes(self, relation: str, timezone: str, presplit: bool = False) -> str:
        """`matched` (one regexp_extract per pattern; with `presplit`, the columns of
        `presplit` instead) and `fields` (typed canonical columns)."""
        extracts = []
        where: dict[str, str] = {}
        if presplit:
            extracts = [MATCH_COLUMN] + [FIELD_PREFIX + f.name for f in self.captured]
            where = {f.name: FIELD_PREFIX + f.name for f in self.captured}
            matches = MATCH_COLUMN
        else:
            for k, (pattern, names) in enumerate(self.patterns):
                alias = f"g{k}"
                name_list = ", ".join(sql_str(n) for n in names)
                extracts.append(
                    f"regexp_extract(line, {sql_str(pattern)}, [{name_list}]) AS {alias}")
                for n in names:
                    where[n] = f"{alias}.{n}"
            matches = f"{where[self.sentinel]} <> ''"

        cols = canonical_exprs(where, self.time_format, timezone)
        reason = (f"CASE WHEN NOT ({matches}) AND regexp_matches(line, {sql_str(self.not_access)}) "
                  f"THEN {sql_str(NOT_ACCESS)} END" if self.not_access else "NULL::VARCHAR")
        return f"""matched AS (
    SELECT line_no, line, {", ".join(extracts)}
    FROM {relation}
),
fields AS (
    SELECT
        line_no,
        CASE WHEN NOT ({matches}) THEN line END AS line,
        {matches} AS is_match,
        {reason} AS reason,
        {select_list(cols)}
    FROM matched
)"""

    @cached_property
    def native_steps(self) -> tuple[tuple[int, int, bytes], ...] | None:
        """The format as a program of pipelines._fastsplit, or None when a field is of a
        kind it does not know or is not delimited by the literal after it.

        Each field must be followed by a literal whose first character the field cannot
        hold (or, for the last field, end where the line or the trailing fields begin):
        then the regex matches a line in one way only, the one a greedy scan finds."""
        if self.not_access:
            return None
        steps: list[tuple[int, int, bytes]] = []
        seen: set[str] = set()
        for i, tok in enumerate(self.tokens):
            if isinstance(tok, str):
                if tok:
                    steps.append((0, 0, tok.encode("utf-8")))
                continue
            kind = NATIVE_KINDS.get(tok.regex)
            if kind is None:
                return None
            after = self.tokens[i + 1] if i + 1 < len(self.tokens) else None
            if isinstance(after, Field) or after == "":
                return None
            # what may follow: the next literal's first character, or (last field) the
            # start of the trailing fields, a \r or the line's end
            follow = after[0] if after else " \r\n"
            if any(_native_holds(kind, c) for c in follow):
                return None
            capture = tok.name != "skip" and tok.name not in seen
            seen.add(tok.name)
            steps.append((kind, int(capture), b""))
        return tuple(steps)

    def presplit(self, table: pa.Table) -> pa.Table | None:
        """The chunk's lines with MATCH_COLUMN and one FIELD_PREFIX column per captured
        field, split by pipelines._fastsplit (~10x faster than the two RE2 patterns)."""
        steps = self.native_steps
        if steps is None or _fastsplit is None:
            return None
        batches = []
        for batch in table.to_batches():
            lines = batch.column("line")
            if lines.type != pa.large_string() or lines.null_count:
                return None
            _, offsets, data = lines.buffers()
            match, fields = _fastsplit.split(steps, self.trailing, offsets, data, lines.offset,
                                             len(lines))
            columns = {"line_no": batch.column("line_no"), "line": lines,
                       MATCH_COLUMN: pa.array(np.frombuffer(match, dtype=np.bool_))}
            for f, (offs, values) in zip(self.captured, fields):
                columns[FIELD_PREFIX + f.name] = pa.LargeStringArray.from_buffers(
                    len(lines), pa.py_buffer(offs), pa.py_buffer(values))
            batches.append(pa.RecordBatch.from_pydict(columns))
        if not batches:
            return None
        return pa.Table.from_batches(batches)

    @cached_property
    def captured(self) -> tuple[Field, ...]:
        seen: set[str] = set()
        out = []
        for tok in self.tokens:
            if isinstance(tok, Field) and tok.name != "skip" and tok.name not in seen:
                seen.add(tok.name)
                out.append(tok)
        return tuple(out)

    def _regex(self, upto: int | None, capture: set[int], sentinel: int | None) -> str:
        parts = ["^"]
        for i, tok in enumerate(self.tokens[: None if upto is None else upto + 1]):
            if isinstance(tok, Field):
                inner = tok.regex
                parts.append(f"({inner})" if i in capture else f"(?:{inner})")
            else:
                lit = escape(tok)
                parts.append(f"({lit})" if i == sentinel else lit)
        if upto is None:
            # [^\r\n], not [^\n]: an optional \r after an ambiguous class costs RE2 its
            # one-pass matcher (3x slower)
            parts.append(r"(?: [^\r\n]*)?" if self.trailing else "")
            parts.append(r"\r?\n?$")
        return "".join(parts)

    @cached_property
    def patterns(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """[(pattern, group names)]; the last pattern spans the whole line.

        The last pattern's group named by `sentinel` is non-empty exactly when the line
        matches: a captured field whose regex cannot match the empty string, or else a
        captured literal named '__end'.
        """
        index = {id(f): i for i, f in enumerate(self.tokens)}
        fields = [(index[id(f)], f.name, re.fullmatch(f.regex, "") is None) for f in self.captured]
        tail = fields[-4:]
        literal = None
        if not any(nonempty for _, _, nonempty in tail):
            literals = [i for i, t in enumerate(self.tokens) if not isinstance(t, Field)]
            if not literals:
                raise InputError(f"Format {self.name!r} needs at least one literal separator.")
            tail = fields[-3:] if len(fields) >= 3 else fields
            literal = literals[-1]
        head = fields[: len(fields) - len(tail)]
        out = []
        for k in range(0, len(head), 4):
            group = head[k:k + 4]
            last = group[-1][0]
            # a prefix pattern must reach the literal that fixes where each of its fields
            # ends; a field only the line end can delimit (an unquoted %r, which may hold
            # spaces and quotes) makes it span the whole line, like the last pattern
            ends = [self._fixed_by(i) for i in range(last + 1)]
            upto = None if None in ends else max([last, *ends])
            out.append((self._regex(upto, {i for i, _, _ in group}, None),
                        tuple(n for _, n, _ in group)))
        named = [(i, n) for i, n, _ in tail] + ([(literal, "__end")] if literal is not None else [])
        out.append((self._regex(None, {i for i, _, _ in tail}, literal),
                    tuple(n for _, n in sorted(named))))
        return tuple(out)

    def _fixed_by(self, i: int) -> int | None:
        """Index of the first literal whose position fixes where token i ends, or None.

        A literal fixes itself. A field is fixed by the first later literal holding a
        character that neither the field nor anything between them can match: with
        `%v:%p %h`, the vhost may contain ':' but not ' ', so the ' ' after %p fixes it.
        """
        if not isinstance(self.tokens[i], Field):
            return i
        between: list[Token] = []
        for j in range(i + 1, len(self.tokens)):
            tok = self.tokens[j]
            if isinstance(tok, str):
                for c in tok:
                    if not any(_can_hold(t, c) for t in [self.tokens[i], *between]):
                        return j
            between.append(tok)
        return None

    @cached_property
    def sentinel(self) -> str:
        """Group of the last pattern that is non-empty exactly when a line matches."""
        names = self.patterns[-1][1]
        if "__end" in names:
            return "__end"
        by_name = {f.name: f for f in self.captured}
        return next(n for n in names if re.fullmatch(by_name[n].regex, "") is None)

    @cached_property
    def full_regex(self) -> re.Pattern[str]:
        return re.compile(self._regex(None, set(), None), re.DOTALL)

    @cached_property
    def _prefix_regexes(self) -> tuple[re.Pattern[str], ...]:
        """For each token, the format up to and including it (built once, not per line)."""
        return tuple(re.compile(self._regex(i, set(), None), re.DOTALL)
                     for i in range(len(self.tokens)))

    def diagnose(self, line: str) -> str:
        """Why a line does not match: the first field (or literal) that fails."""
        body = line.rstrip("\r\n")
        if not body.strip(" \t\n\f\r"):  # RE2's \s, as parse.py decides blank lines
            return "blank line"
        last_ok = -1
        for i, prefix_re in enumerate(self._prefix_regexes):
            if prefix_re.match(body):
                last_ok = i
            else:
                break
        prefix = f"does not match format {self.name}"
        if last_ok == len(self.tokens) - 1:
            return f"{prefix}: unexpected text after the last field"
        tok = self.tokens[last_ok + 1]
        if last_ok >= 0 and self._prefix_regexes[last_ok].fullmatch(body):
            done = self.tokens[last_ok]
            if isinstance(done, Field) and done.regex == QUOTED and isinstance(tok, str) \
                    and tok.startswith('"'):
                return f"{prefix}: field {_label(done)} has no closing quote"
            after = f"field {_label(done)}" if isinstance(done, Field) else repr(done)
            return f"{prefix}: line ends after {after} (fields missing)"
        if isinstance(tok, Field):
            return f"{prefix}: field {_label(tok)} is malformed"
        prev = self.tokens[last_ok] if last_ok >= 0 else None
        if isinstance(prev, Field):
            return f"{prefix}: field {_label(prev)} is malformed or not followed by {tok!r}"
        return f"{prefix}: expected {tok!r} at the start" if prev is None else \
            f"{prefix}: expected {tok!r}"


def _native_holds(kind: int, c: str) -> bool:
    """Whether a field of this pipelines._fastsplit kind can hold character `c`."""
    if kind == 1:
        return c not in " \t\n\f\r"
    if kind == 2:
        return c != "]"
    if kind == 3:
        return c != '"'
    return "0" <= c <= "9"  # digits; a '-' alone is a whole field, never part of one


def _can_hold(tok: Token, c: str) -> bool:
    """Whether a token can match text containing the character c (probed, not proven)."""
    if isinstance(tok, str):
        return c in tok
    probes = [c] + [x + c + x for x in ("a", "0", "-", "\\", ".")]
    return any(re.fullmatch(tok.regex, p) for p in probes)


def _label(f: Field) -> str:
    return repr(f.name if f.name != "skip" else f.directive)



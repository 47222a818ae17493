"""Log format registry: named presets and Apache `LogFormat` strings compiled to regexes.

A regex format is a sequence of literal text and fields. Each field has a canonical name
(what the parser turns it into) and a sub-pattern without capture groups. Compiling a
format gives several anchored patterns of at most four capture groups each, because
RE2's fast one-pass matcher stops above that (../shared/PERF-NOTES.md); the last pattern
spans the whole line and also captures one literal as a sentinel, so "matched" is known
without another regex pass.

Canonical field names:
    client, remote_user, time, request, method, url, protocol, status, bytes, referrer,
    user_agent, vhost, time_us, time_ms, time_s, forwarded_for
Fields named "skip" are matched but not captured.

Adding a preset: one entry in PRESETS (an Apache LogFormat string), one sample log under
tests/data/logs/, one test in tests/test_formats.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from .errors import InputError

QUOTED = r'(?:[^"\\]|\\.)*'
CANONICAL = (
    "client", "remote_user", "time", "request", "method", "url", "protocol", "status",
    "bytes", "referrer", "user_agent", "vhost", "time_us", "time_ms", "time_s",
    "forwarded_for",
)
APACHE_TIME = "%d/%b/%Y:%H:%M:%S %z"
_META = set(".^$|?*+()[]{}\\")


def escape(text: str) -> str:
    """Escape a literal for both RE2 and Python's re (no escaping of spaces)."""
    return "".join("\\" + c if c in _META else c for c in text)


@dataclass(frozen=True)
class Field:
    name: str
    regex: str
    directive: str = ""


Token = str | Field


@dataclass(frozen=True)
class RegexFormat:
    """A line format: literals and fields, compiled into ≤4-group anchored patterns."""

    name: str
    tokens: tuple[Token, ...]
    time_format: str = APACHE_TIME
    description: str = ""
    source: str = ""
    trailing: bool = True  # accept extra space-separated fields after the last one

    kind = "regex"

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

    def diagnose(self, line: str) -> str:
        """Why a line does not match: the first field (or literal) that fails."""
        body = line.rstrip("\r\n")
        if not body.strip():
            return "blank line"
        last_ok = -1
        for i in range(len(self.tokens)):
            if re.match(self._regex(i, set(), None), body, re.DOTALL):
                last_ok = i
            else:
                break
        prefix = f"does not match format {self.name}"
        if last_ok == len(self.tokens) - 1:
            return f"{prefix}: unexpected text after the last field"
        tok = self.tokens[last_ok + 1]
        if last_ok >= 0 and re.fullmatch(self._regex(last_ok, set(), None), body, re.DOTALL):
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


def _can_hold(tok: Token, c: str) -> bool:
    """Whether a token can match text containing the character c (probed, not proven)."""
    if isinstance(tok, str):
        return c in tok
    probes = [c] + [x + c + x for x in ("a", "0", "-", "\\", ".")]
    return any(re.fullmatch(tok.regex, p) for p in probes)


def _label(f: Field) -> str:
    return repr(f.name if f.name != "skip" else f.directive)


# --------------------------------------------------------------------------- Apache

_APACHE = {
    # directive: (canonical name, unquoted regex); quoted context uses QUOTED
    "h": ("client", r"\S+"),
    "a": ("client", r"\S+"),
    "l": ("skip", r"\S+"),
    "u": ("remote_user", r"\S+"),
    "r": ("request", r"\S+(?: \S+)*?"),
    ">s": ("status", r"\d{1,3}|-"),
    "s": ("status", r"\d{1,3}|-"),
    "<s": ("status", r"\d{1,3}|-"),
    "b": ("bytes", r"\d+|-"),
    "B": ("bytes", r"\d+"),
    "O": ("bytes", r"\d+|-"),
    "I": ("skip", r"\d+|-"),
    "S": ("skip", r"\d+|-"),
    "v": ("vhost", r"\S+"),
    "V": ("vhost", r"\S+"),
    "p": ("skip", r"\d+|-"),
    "D": ("time_us", r"\d+"),
    "T": ("time_s", r"\d+"),
    "{ms}T": ("time_ms", r"\d+"),
    "{us}T": ("time_us", r"\d+"),
    "{s}T": ("time_s", r"\d+"),
    "m": ("method", r"[A-Za-z0-9_-]+"),
    "H": ("protocol", r"\S+"),
    "U": ("url", r"[^\s?]*"),
    "q": ("skip", r"(?:\?\S*)?"),
    "X": ("skip", r"[X+-]"),
    "P": ("skip", r"\d+"),
    "k": ("skip", r"\d+"),
    "L": ("skip", r"\S+"),
    "R": ("skip", r"\S+"),
}
_HEADER_FIELDS = {"referer": "referrer", "user-agent": "user_agent",
                  "x-forwarded-for": "forwarded_for"}
_DIRECTIVE = re.compile(r"%[<>]?(?:\{([^}]*)\})?([a-zA-Z%])")


def _apache_field(mod: str, arg: str | None, letter: str, quoted: bool) -> Field | str:
    key = ("{" + arg + "}" if arg is not None else "") + (mod if letter == "s" else "") + letter
    directive = "%" + (mod if letter != "s" else "") + key if letter != "s" else "%" + key
    if letter == "%":
        return "%"
    if letter in "io" and arg is not None:
        name = _HEADER_FIELDS.get(arg.lower(), "skip") if letter == "i" else "skip"
        return Field(name, QUOTED if quoted else r"\S+", directive)
    if letter == "s":
        key = mod + "s"
    spec = _APACHE.get(key)
    if spec is None:
        raise InputError(f"Apache format directive {directive!r} is not supported.")
    name, regex = spec
    if quoted and name in ("request", "skip", "remote_user", "client"):
        regex = QUOTED
    return Field(name, regex, directive)


def compile_apache(fmt: str, name: str | None = None, description: str = "") -> RegexFormat:
    """Compile an Apache `LogFormat` string (as written in httpd.conf) into a RegexFormat."""
    tokens: list[Token] = []
    pos = 0
    for m in _DIRECTIVE.finditer(fmt):
        if m.start() > pos:
            tokens.append(fmt[pos:m.start()])
        text = m.group(0)
        mod = "<" if text.startswith("%<") else (">" if text.startswith("%>") else "")
        arg, letter = m.group(1), m.group(2)
        before = fmt[:m.start()]
        after = fmt[m.end():]
        quoted = before.endswith('"') and after.startswith('"')
        if letter == "t":
            if arg is not None:
                raise InputError(f"Apache format directive '%{{{arg}}}t' is not supported yet.")
            tokens += ["[", Field("time", r"[^\]]+", "%t"), "]"]
        else:
            tok = _apache_field(mod, arg, letter, quoted)
            tokens.append(tok)
        pos = m.end()
    if pos < len(fmt):
        tokens.append(fmt[pos:])
    if "%" in "".join(t for t in tokens if isinstance(t, str) and t != "%"):
        raise InputError(f"Apache format {fmt!r} has a '%' that is not a known directive.")
    merged: list[Token] = []
    for tok in tokens:  # join adjacent literals
        if isinstance(tok, str) and merged and isinstance(merged[-1], str):
            merged[-1] += tok
        else:
            merged.append(tok)
    names = [t.name for t in merged if isinstance(t, Field)]
    if "time" not in names:
        raise InputError(f"Apache format {fmt!r} has no time field (%t).")
    return RegexFormat(name or "apache", tuple(merged), APACHE_TIME, description, fmt)


COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = COMMON + ' "%{Referer}i" "%{User-Agent}i"'
PRESETS: dict[str, tuple[str, str]] = {
    # name: (Apache LogFormat, description)
    "common": (COMMON, "NCSA common log format (Apache 'common', nginx without referrer/agent)."),
    "combined": (COMBINED, "Apache/nginx combined: common + referrer and user agent."),
    "vhost_combined": ("%v:%p " + COMBINED.replace("%b", "%O"),
                       "Apache vhost_combined (Debian default): 'host:port ' + combined."),
    "combined_D": (COMBINED + " %D", "Combined + time served in microseconds (%D)."),
    "combined_T": (COMBINED + " %T", "Combined + time served in seconds (%T)."),
}


def get_format(name: str) -> RegexFormat:
    """A preset by name, or 'apache:<LogFormat string>'."""
    if name.startswith("apache:"):
        return compile_apache(name[len("apache:"):], "apache-custom")
    preset = PRESETS.get(name)
    if preset is None:
        known = ", ".join(PRESETS)
        raise InputError(f"Unknown log format {name!r} (known: {known}, or 'apache:<LogFormat>').")
    return compile_apache(preset[0], name, preset[1])

"""Apache `LogFormat` strings (as written in httpd.conf) compiled into RegexFormats.

Every directive becomes a field with a canonical name and a regex (quoted context: a quoted
string with backslash escapes, as mod_log_config writes it). Notes:

- `%{c}a` / `%{c}h` is the peer of the connection (a proxy, with mod_remoteip): it becomes
  the client, and `%a`/`%h` (mod_remoteip's choice from X-Forwarded-For) is kept as the
  forwarded-for chain, so `trusted_proxies` decides (pipelines.forwarded). When the format
  also logs `%{X-Forwarded-For}i`, that header is the chain.
- `%{format}t` takes strftime formats; adjacent time directives with only literals between
  them (`[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t]`) are read as one timestamp. `%{sec}t`,
  `%{msec}t`, `%{usec}t` are times since the epoch.
- A directive without a meaning here is one InputError naming it.
"""
from __future__ import annotations

import re

from .errors import InputError
from .patterns import APACHE_TIME, QUOTED, Field, RegexFormat, Token, escape

_APACHE = {
    # directive: (canonical name, unquoted regex); quoted context uses QUOTED
    "h": ("client", r"\S+"),
    "a": ("client", r"\S+"),
    "{c}a": ("peer", r"\S+"),
    "{c}h": ("peer", r"\S+"),
    "A": ("skip", r"\S+"),
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
    "{canonical}p": ("skip", r"\d+|-"),
    "{local}p": ("skip", r"\d+|-"),
    "{remote}p": ("skip", r"\d+|-"),
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
    "{pid}P": ("skip", r"\d+"),
    "{tid}P": ("skip", r"\d+"),
    "{hextid}P": ("skip", r"[0-9a-fA-F]+"),
    "k": ("skip", r"\d+"),
    "L": ("skip", r"\S+"),
    "R": ("skip", r"\S+"),
}
_HEADER_FIELDS = {"referer": "referrer", "user-agent": "user_agent",
                  "x-forwarded-for": "forwarded_for", "forwarded": "forwarded_for"}
_DIRECTIVE = re.compile(r"%[<>]?(?:\{([^}]*)\})?([a-zA-Z%])")
# strftime directives Apache's %{...}t may use: regex, and DuckDB strptime spec
_STRFTIME = {
    "d": (r"\d{1,2}", "%d"), "e": (r" ?\d{1,2}", "%d"), "m": (r"\d{1,2}", "%m"),
    "b": (r"[A-Za-z]{3}", "%b"), "h": (r"[A-Za-z]{3}", "%b"), "B": (r"[A-Za-z]+", "%B"),
    "Y": (r"\d{4}", "%Y"), "y": (r"\d{2}", "%y"), "H": (r"\d{1,2}", "%H"),
    "I": (r"\d{1,2}", "%I"), "p": (r"[AaPp][Mm]", "%p"), "M": (r"\d{2}", "%M"),
    "S": (r"\d{2}", "%S"), "z": (r"[+-]\d{2}:?\d{2}", "%z"), "a": (r"[A-Za-z]{3}", "%a"),
    "A": (r"[A-Za-z]+", "%A"), "j": (r"\d{3}", "%j"), "%": ("%", "%%"),
}
_STRFTIME_ALIASES = {"T": "%H:%M:%S", "F": "%Y-%m-%d", "D": "%m/%d/%y", "R": "%H:%M"}
_TIME_PARTS = {"msec_frac": (r"\d{3}", "%g"), "usec_frac": (r"\d{6}", "%f")}
_EPOCH_PARTS = {"sec": "epoch", "msec": "epoch_ms", "usec": "epoch_us"}


def _strftime(spec: str, directive: str) -> tuple[str, str]:
    """(regex, DuckDB strptime format) of an strftime format."""
    for alias, expansion in _STRFTIME_ALIASES.items():
        spec = spec.replace("%" + alias, expansion)
    regex, fmt, i = [], [], 0
    while i < len(spec):
        c = spec[i]
        if c == "%" and i + 1 < len(spec):
            part = _STRFTIME.get(spec[i + 1])
            if part is None:
                raise InputError(f"Apache format directive {directive!r} uses %{spec[i + 1]}, "
                                 "which is not supported in a time format.")
            regex.append(part[0])
            fmt.append(part[1])
            i += 2
            continue
        if c == "%":
            raise InputError(f"Apache format directive {directive!r} ends with a lone '%'.")
        regex.append(escape(c))
        fmt.append(c)
        i += 1
    return "".join(regex), "".join(fmt)


def _time_field(arg: str | None) -> list[Token]:
    """Tokens of %t / %{...}t: [literal, Field, literal] or [Field]."""
    if arg is None:
        return ["[", Field("time", r"[^\]]+", "%t", APACHE_TIME), "]"]
    directive = "%{" + arg + "}t"
    spec = arg.removeprefix("begin:").removeprefix("end:")
    if spec in _EPOCH_PARTS:
        return [Field(_EPOCH_PARTS[spec], r"\d+", directive)]
    if spec in _TIME_PARTS:
        regex, fmt = _TIME_PARTS[spec]
        return [Field("time", regex, directive, fmt)]
    if "%" not in spec:
        raise InputError(f"Apache format directive {directive!r} is not supported.")
    regex, fmt = _strftime(spec, directive)
    return [Field("time", regex, directive, fmt)]


def _apache_field(mod: str, arg: str | None, letter: str, quoted: bool) -> Field | str:
    key = ("{" + arg + "}" if arg is not None else "") + (mod if letter == "s" else "") + letter
    directive = "%" + (mod if letter != "s" else "") + key if letter != "s" else "%" + key
    if letter == "%":
        return "%"
    if letter in "ion" and arg is not None:  # request/response headers, notes
        name = _HEADER_FIELDS.get(arg.lower(), "skip") if letter == "i" else "skip"
        return Field(name, QUOTED if quoted else r"\S+", directive)
    if letter == "e" and arg is not None:  # environment variables (mod_ssl's, ...)
        return Field("skip", QUOTED if quoted else r"\S+", directive)
    if letter == "s":
        key = mod + "s"
    spec = _APACHE.get(key)
    if spec is None:
        raise InputError(f"Apache format directive {directive!r} is not supported.")
    name, regex = spec
    if quoted and name in ("request", "skip", "remote_user", "client", "peer"):
        regex = QUOTED
    return Field(name, regex, directive)


def merge_times(tokens: list[Token]) -> list[Token]:
    """Join time fields separated only by literals into one `time` field."""
    out: list[Token] = []
    pending: list[Token] = []  # time fields and the literals after the last one

    def flush() -> None:
        fields = [t for t in pending if isinstance(t, Field)]
        if not fields:
            out.extend(pending)
        else:
            last = max(i for i, t in enumerate(pending) if isinstance(t, Field))
            body, tail = pending[:last + 1], pending[last + 1:]
            if len(fields) == 1:
                out.extend(body)
            else:
                regex = "".join(t.regex if isinstance(t, Field) else escape(t) for t in body)
                fmt = "".join(t.time_format if isinstance(t, Field) else t.replace("%", "%%")
                              for t in body)
                directive = "".join(t.directive if isinstance(t, Field) else t for t in body)
                out.append(Field("time", regex, directive, fmt))
            out.extend(tail)
        pending.clear()

    for tok in tokens:
        if isinstance(tok, Field) and tok.name == "time" and tok.time_format and tok.directive != "%t":
            pending.append(tok)
        elif isinstance(tok, str) and pending:
            pending.append(tok)
        else:
            flush()
            out.append(tok)
    flush()
    return out


def join_literals(tokens: list[Token]) -> list[Token]:
    merged: list[Token] = []
    for tok in tokens:
        if isinstance(tok, str) and merged and isinstance(merged[-1], str):
            merged[-1] += tok
        elif tok != "":
            merged.append(tok)
    return merged


def resolve_clients(tokens: list[Token]) -> list[Token]:
    """With a peer field (%{c}a), the peer is the client and the logged client the chain."""
    if not any(isinstance(t, Field) and t.name == "peer" for t in tokens):
        return tokens
    has_chain = any(isinstance(t, Field) and t.name == "forwarded_for" for t in tokens)
    out: list[Token] = []
    for t in tokens:
        if isinstance(t, Field) and t.name == "peer":
            t = Field("client", t.regex, t.directive)
        elif isinstance(t, Field) and t.name == "client":
            t = Field("skip" if has_chain else "forwarded_for", t.regex, t.directive)
        out.append(t)
    return out


def time_format_of(tokens: list[Token], fmt: str) -> str:
    """The strptime format of the one `time` field; one error if there are several."""
    times = [t for t in tokens if isinstance(t, Field) and t.name in ("time", "epoch", "epoch_ms",
                                                                     "epoch_us")]
    if not times:
        raise InputError(f"Format {fmt!r} has no time field.")
    if len(times) > 1:
        raise InputError(f"Format {fmt!r} has {len(times)} time fields "
                         f"({', '.join(t.directive for t in times)}); keep one.")
    return times[0].time_format or APACHE_TIME


def compile_apache(fmt: str, name: str | None = None, description: str = "",
                   **options) -> RegexFormat:
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
            tokens += _time_field(arg)
        else:
            tokens.append(_apache_field(mod, arg, letter, quoted))
        pos = m.end()
    if pos < len(fmt):
        tokens.append(fmt[pos:])
    if "%" in "".join(t for t in tokens if isinstance(t, str) and t != "%"):
        raise InputError(f"Apache format {fmt!r} has a '%' that is not a known directive.")
    tokens = join_literals(resolve_clients(merge_times(join_literals(tokens))))
    names = [t.name for t in tokens if isinstance(t, Field)]
    if not {"time", "epoch", "epoch_ms", "epoch_us"} & set(names):
        raise InputError(f"Apache format {fmt!r} has no time field (%t).")
    time_format = time_format_of(tokens, fmt)
    return RegexFormat(name or "apache", tuple(tokens), time_format, description, fmt, **options)

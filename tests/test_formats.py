"""Log formats (pipelines.formats, patterns, apache): Apache LogFormat compilation into
≤4-group RE2 patterns, presets, errors for what is not supported, and reject diagnoses.
Presets of every kind, their examples and the real-world samples are at the end; the nginx,
W3C and JSON compilers have their own modules (test_nginx, test_w3c, test_jsonlog)."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import InputError
from pipelines.formats import CANONICAL, PRESETS, Field, RegexFormat, compile_apache, get_format
from pipelines.parse import sql_str

LOGS = Path(__file__).parent / "data" / "logs"
REGEX_PRESETS = [n for n in PRESETS if isinstance(get_format(n), RegexFormat)]
APACHE_PRESETS = [n for n in PRESETS if str(PRESETS[n].spec).startswith("apache:")]
CUSTOM = [
    "apache:%h %l %u %t \"%r\" %>s %b",
    "apache:%v %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" %D \"%{X-Forwarded-For}i\"",
    "apache:%h %l %u %t %r %>s %b %{Referer}i %{User-Agent}i",  # unquoted request: spaces inside
    "apache:%a %t \"%m %U%q %H\" %s %B %{ms}T",
    "apache:[%t] %h \"%r\" %>s",
]


def python_regex(fmt: RegexFormat) -> re.Pattern[str]:
    """An independent oracle: the whole format as ONE Python regex with a group per field,
    using RE2's meaning of \\s, \\S and \\d (ASCII space set, ASCII digits)."""
    parts = ["^"]
    seen: set[str] = set()
    for i, tok in enumerate(fmt.tokens):
        if isinstance(tok, Field):
            inner = _re2_classes(tok.regex)
            if tok.name != "skip" and tok.name not in seen:
                seen.add(tok.name)
                parts.append(f"(?P<{tok.name}>{inner})")
            else:
                parts.append(f"(?:{inner})")
        else:
            parts.append(re.escape(tok))
    parts.append(r"(?: [^\r\n]*)?" if fmt.trailing else "")
    parts.append(r"\r?\n?\Z")
    return re.compile("".join(parts))


def _re2_classes(regex: str) -> str:
    out, i, in_class = [], 0, False
    space, digit = r"\t\n\f\r ", "0-9"
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex):
            e = regex[i + 1]
            if e in "sSd":
                body = space if e in "sS" else digit
                if in_class:
                    if e == "S":
                        raise AssertionError("\\S inside a class is not used by the formats")
                    out.append(body)
                else:
                    out.append(f"[^{body}]" if e == "S" else f"[{body}]")
            else:
                out.append(regex[i:i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class and out and out[-1] not in ("[", "[^"):
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def re2_extract(fmt: RegexFormat, lines: list[str]) -> list[dict[str, str] | None]:
    """Run the compiled patterns in DuckDB (RE2) the way parse.py does: None when no match."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (n INTEGER, line VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(lines)))
    selects = [f"regexp_extract(line, {sql_str(p)}, [{', '.join(sql_str(n) for n in names)}])"
               for p, names in fmt.patterns]
    rows = con.execute(f"SELECT {', '.join(selects)} FROM t ORDER BY n").fetchall()
    out: list[dict[str, str] | None] = []
    for row in rows:
        merged: dict[str, str] = {}
        for struct in row:
            merged.update(struct)
        out.append(merged if merged[fmt.sentinel] != "" else None)
    return out


def oracle(fmt: RegexFormat, line: str) -> dict[str, str] | None:
    m = python_regex(fmt).match(line)
    return None if m is None else {k: v for k, v in m.groupdict().items()}


# --------------------------------------------------------------------------- compilation

@pytest.mark.parametrize("name", [*REGEX_PRESETS, *CUSTOM])
def test_every_pattern_has_at_most_four_groups(name):
    fmt = get_format(name)
    names = [n for _, group in fmt.patterns for n in group if n != "__end"]
    assert sorted(names) == sorted(f.name for f in fmt.captured)  # each field captured once
    for pattern, group in fmt.patterns:
        compiled = re.compile(pattern)
        assert compiled.groups == len(group) <= 4, pattern
        assert pattern.startswith("^")
    assert fmt.patterns[-1][0].endswith(r"\r?\n?$")  # the last one spans the whole line
    assert fmt.sentinel in fmt.patterns[-1][1]
    assert set(names) <= set(CANONICAL)


@pytest.mark.parametrize("name", APACHE_PRESETS)
def test_preset_prefix_patterns_stop_early(name):
    # only the last pattern needs to read the whole line (../shared/PERF-NOTES.md)
    for pattern, _ in get_format(name).patterns[:-1]:
        assert not pattern.endswith("$"), pattern
        assert "(?: [^\\r\\n]*)?" not in pattern


@pytest.mark.parametrize("name", APACHE_PRESETS)
def test_presets_compile_from_their_apache_strings(name):
    fmt = get_format(name)
    assert fmt.name == name
    assert "apache:" + fmt.source == PRESETS[name].spec
    assert "time" in {f.name for f in fmt.captured}


def test_preset_fields():
    def fields(name: str) -> list[str]:
        return [f.name for f in get_format(name).captured]

    common = ["client", "remote_user", "time", "request", "status", "bytes"]
    assert fields("common") == common
    assert fields("combined") == common + ["referrer", "user_agent"]
    assert fields("vhost_combined") == ["vhost"] + common + ["referrer", "user_agent"]
    assert fields("combined_D") == common + ["referrer", "user_agent", "time_us"]
    assert fields("combined_T") == common + ["referrer", "user_agent", "time_s"]


@pytest.mark.parametrize("name", [*REGEX_PRESETS, *CUSTOM])
def test_prefix_patterns_agree_with_one_whole_line_regex(name):
    fmt = get_format(name)
    fixture = LOGS / f"{name}.log"
    lines = fixture.read_text().splitlines(keepends=True) if fixture.exists() else []
    lines += [PRESETS[name].example + "\n"] if name in PRESETS else []
    lines += [
        '192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] "GET /a 404 HTTP/1.1" 200 5 "-" "x"\n',
        'www.example.com 192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET /a b HTTP/1.1 200 5 - x\n',
        "192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET / HTTP/1.1 200 5 http://x/ curl/8\n",
        '[10/Nov/2026:10:00:00 +0000] 192.0.2.1 "GET / HTTP/1.1" 200\n',
        '192.0.2.1 [10/Nov/2026:10:00:00 +0000] "GET /p?q=1 HTTP/1.1" 200 5 12\n',
    ]
    got = re2_extract(fmt, lines)
    for line, extracted in zip(lines, got):
        expected = oracle(fmt, line)
        if expected is None:
            assert extracted is None, line
        else:
            assert extracted is not None, line
            assert {k: extracted[k] for k in expected} == expected, line


def test_unquoted_request_keeps_its_spaces():
    # an unquoted %r can only be delimited by what follows it on the whole line
    fmt = get_format("apache:%h %l %u %t %r %>s %b %{Referer}i %{User-Agent}i")
    line = "192.0.2.1 - - [10/Nov/2026:10:00:00 +0000] GET /x HTTP/1.1 200 5 http://a/ curl/1\n"
    (got,) = re2_extract(fmt, [line])
    assert got is not None
    assert got["request"] == "GET /x HTTP/1.1"
    assert got["status"] == "200"


def test_header_fields_and_modifiers():
    fmt = compile_apache('%h %{X-Forwarded-For}i %{Cookie}i "%{user-agent}i" %<s %s %>s %t')
    names = [t.name if isinstance(t, Field) else None for t in fmt.tokens]
    assert "forwarded_for" in names and "user_agent" in names
    assert [t.directive for t in fmt.tokens if isinstance(t, Field) and t.name == "skip"] == ["%{Cookie}i"]
    assert [t.directive for t in fmt.tokens if isinstance(t, Field) and t.name == "status"] == ["%<s", "%s", "%>s"]


def test_percent_literal():
    fmt = compile_apache("%h 100%% %t")
    assert fmt.tokens[0].name == "client"
    assert " 100% [" in "".join(t for t in fmt.tokens if isinstance(t, str))
    (got,) = re2_extract(fmt, ["192.0.2.1 100% [10/Nov/2026:10:00:00 +0000]\n"])
    assert got == {"client": "192.0.2.1", "time": "10/Nov/2026:10:00:00 +0000"}


@pytest.mark.parametrize("fmt, named", [
    ("%h %t %Z", "%Z"),
    ("%h %t %{X}C", "%{X}C"),
    ("%h %{%d/%b/%Y %Q}t", "%{%d/%b/%Y %Q}t"),
    ("%h %{msecs}t", "%{msecs}t"),
    ("%h %t %f", "%f"),
])
def test_unsupported_directive_is_named(fmt, named):
    with pytest.raises(InputError) as err:
        compile_apache(fmt)
    assert repr(named) in str(err.value) or named in str(err.value)
    assert "not supported" in str(err.value)


def test_stray_percent_and_missing_time():
    with pytest.raises(InputError, match="has a '%' that is not a known directive"):
        compile_apache("%h %t %5")
    with pytest.raises(InputError, match=r"has no time field \(%t\)"):
        compile_apache("%h %>s")


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        get_format("combind")
    message = str(err.value)
    assert "Unknown log format 'combind'" in message
    for name in PRESETS:
        assert name in message
    assert "apache:<LogFormat>" in message


def test_apache_prefix_gives_a_custom_format():
    fmt = get_format('apache:%h %t "%r" %>s')
    assert fmt.name == "apache-custom"
    assert fmt.source == '%h %t "%r" %>s'


# --------------------------------------------------------------------------- diagnoses

@pytest.mark.parametrize("line, reason", [
    ("\n", "blank line"),
    ("   \r\n", "blank line"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"192.0.2.2 - -\n',
     "unexpected text after the last field"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /u HTTP/1.1 200 1 "-" "-"\n',
     "field 'request' is malformed or not followed by '\" '"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /s HTTP/1.1" 200\n',
     "line ends after field 'status' (fields missing)"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET /s HTTP/1.1" 200 ',
     "line ends after ' ' (fields missing)"),
    ('192.0.2.1 - - 10/Nov/2026:12:00:00 +0000 "GET / HTTP/1.1" 200 1 "-" "-"\n',
     "field 'remote_user' is malformed or not followed by ' ['"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-"\n',
     "field 'status' is malformed or not followed by ' '"),
    ('192.0.2.1 - - [10/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "Googlebot\n',
     "field 'user_agent' has no closing quote"),
    ("garbage\n", "line ends after field 'client' (fields missing)"),
    ("garbage and more text\n", "field 'remote_user' is malformed or not followed by ' ['"),
])
def test_diagnose_names_the_first_failing_field(line, reason):
    got = get_format("combined").diagnose(line)
    assert got.endswith(reason), got
    if reason != "blank line":
        assert got.startswith("does not match format combined: ")


def test_diagnose_never_quotes_the_line():
    line = '198.51.100.7 - - [10/Nov/2026:12:00:00 +0000] "GET /secret HTTP/1.1" 2000 1 "-" "-"\n'
    reason = get_format("combined").diagnose(line)
    assert "198.51.100.7" not in reason and "/secret" not in reason

"""The parser's independent oracle, shared by the format tests: a whole format as ONE Python
regex (test_formats and test_parse both use it; a module of its own so that neither test
module has to import the other)."""
from __future__ import annotations

import re

from pipelines.formats import Field, RegexFormat


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

"""pipelines.pages: how values are shown, and the template environment's escaping."""
from __future__ import annotations

import pytest

from pipelines import pages


@pytest.mark.parametrize("value, kind, shown", [
    (1234567, "int", "1,234,567"),
    (12.345, "int", "12.3"),
    (None, "int", "–"),
    (999, "bytes", "999 B"),
    (1_338_344_980, "bytes", "1.3 GB"),
    (0.12591, "pct", "12.6%"),
    (42.4, "ms", "42 ms"),
    (["a.example", "b.example"], "list", "a.example, b.example"),
    (None, "list", ""),
    (True, "bool", "yes"),
    ("/<b>", "path", "/<b>"),  # escaping is the template's job, not the filter's
])
def test_values(value, kind, shown):
    assert pages.fmt_value(value, kind) == shown


@pytest.mark.parametrize("change, fmt, good, text, css", [
    (0.25, "int", "up", "+25.0%", "good"),
    (0.25, "int", "down", "+25.0%", "bad"),
    (-0.5, "int", "down", "-50.0%", "good"),
    (0.001, "int", "up", "+0.1%", "flat"),
    (0.3, "int", None, "+30.0%", "flat"),
    (-0.012, "pct", None, "-1.2 pp", "flat"),
    (None, "int", "up", "", ""),
])
def test_change(change, fmt, good, text, css):
    card = {"change": change, "format": fmt, "good": good}
    assert pages.fmt_change(card) == text and pages.change_class(card) == css


def test_environment_escapes_everything():
    env = pages.environment()
    out = env.from_string("{{ v }}|{{ v | value('path') }}|{{ [v, v] | join(', ') }}").render(
        v='"><img src=x onerror=alert(1)>')
    assert "<img" not in out and out.count("&lt;img") == 4
    # only what is passed through trusted() (our CSS, checked chart SVG) goes in unescaped
    both = env.from_string("{{ a }}{{ b }}").render(a=pages.trusted("<svg></svg>"),
                                                   b="<svg></svg>")
    assert both == "<svg></svg>&lt;svg&gt;&lt;/svg&gt;"


def test_bar_width():
    rows = [{"n": 10}, {"n": 5}, {"n": None}]
    assert [pages.bar_width(r["n"], rows, "n") for r in rows] == [100.0, 50.0, 0.0]
    assert pages.bar_width(0, [{"n": 0}], "n") == 0.0

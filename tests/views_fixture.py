"""The report/dashboard fixture: the statistics fixture plus hostile log lines, and a small
HTML reader for assertions.

`build_views_warehouse` ingests the statistics fixture (tests/stats_fixture.py) and then
HOSTILE lines on its last day: request paths, referrers, user agents and a virtual host
that hold `<script>alert(1)</script>` and `"><img src=x onerror=alert(1)>` (quotes
escaped as Apache writes them), as 200s, 404s linked from the site's own pages, and a
500. Then it aggregates, which also publishes the dashboard's snapshot.

`Html` parses a page with the standard library's html.parser (BeautifulSoup is not a
dependency) into start tags with their attributes and the text nodes, which is what the
escaping assertions need: an injected element shows up as a tag, escaped text as text.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from html.parser import HTMLParser
from pathlib import Path

import stats_fixture as sf

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_VHOST = SCRIPT
DAY = sf.DAYS[-1]


def _stamp(hour: int, minute: int) -> str:
    local = dt.datetime.combine(DAY, dt.time(hour, minute)).replace(
        tzinfo=zoneinfo.ZoneInfo(sf.TIMEZONE))
    return local.astimezone(dt.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _quoted(text: str) -> str:
    """A value inside a quoted log field, escaped as Apache escapes it."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def hostile_lines() -> list[str]:
    """Lines whose path, referrer and user agent carry markup (documentation addresses)."""
    site = sf.VHOSTS[0]
    lines = []
    for i in range(3):
        lines += [
            f'{site} 192.0.2.{20 + i} - - [{_stamp(10, i)}] "GET /{_quoted(SCRIPT)} HTTP/1.1" 200 '
            f'512 "{_quoted("https://" + site + "/" + IMG)}" "{_quoted(SCRIPT)}" 1200',
            f'{site} 192.0.2.{30 + i} - - [{_stamp(11, i)}] "GET /{_quoted(IMG)} HTTP/1.1" 404 '
            f'196 "{_quoted("https://" + site + "/" + SCRIPT)}" "{_quoted(IMG)}" 300',
            f'{site} 198.51.100.{20 + i} - - [{_stamp(12, i)}] "GET /err/{_quoted(SCRIPT)} '
            f'HTTP/1.1" 500 0 "-" "Mozilla/5.0 {_quoted(IMG)}" 900',
            f'{HOSTILE_VHOST} 203.0.113.{60 + i} - - [{_stamp(13, i)}] "GET / HTTP/1.1" 200 99 '
            f'"-" "{_quoted(SCRIPT)}" 100',
        ]
    return lines


def build_views_warehouse(root: Path) -> tuple:
    """(config, log lines): the statistics fixture with the hostile lines, aggregated
    (which publishes the snapshot too)."""
    from pipelines.aggregate import run_aggregate
    from pipelines.ingest import ingest_paths

    cfg, lines = sf.build_warehouse(root)
    extra = sf.write_log(root / "logs" / "hostile.log", hostile_lines())
    results = ingest_paths(cfg, [str(extra)], format_name=sf.FORMAT, as_of=sf.AS_OF)
    assert results[0].lines_rejected == 0, results[0].reject_reasons
    run_aggregate(cfg)
    return cfg, lines + hostile_lines()


# --------------------------------------------------------------------------- HTML

class Html(HTMLParser):
    """Start tags (name, attributes) and text nodes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []

    @classmethod
    def parse(cls, text: str) -> Html:
        doc = cls()
        doc.feed(text)
        doc.close()
        return doc

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def text(self) -> str:
        return "".join(self.texts)

    def handler_attributes(self) -> list[tuple[str, str]]:
        """Every on* attribute of any element: there must be none."""
        return [(t, k) for t, a in self.tags for k in a if k.lower().startswith("on")]


def assert_no_markup_injected(page: str) -> Html:
    """The page holds no script, no img, no event handler; the hostile strings, if there,
    are text. Returns the parsed page."""
    doc = Html.parse(page)
    names = {t for t, _ in doc.tags}
    assert "script" not in names and "img" not in names and "iframe" not in names
    assert doc.handler_attributes() == []
    return doc

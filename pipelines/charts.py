"""Charts of the report and the dashboard: Vega-Lite specs rendered to static SVG.

vl-convert renders each spec (Vega-Lite, JavaScript inside a Deno runtime of the wheel,
no network) to an SVG string that the templates embed inline. Not HTML: Altair's and
vl-convert's HTML output put the data inside a <script> element unescaped, so a path or
user agent holding '</script><script>...' would run in the reader's browser. In SVG,
vl-convert writes every label as escaped <text>; `checked_svg` still parses each chart
and refuses anything but plain drawing elements (no script, no event handler, no link,
no foreignObject, no style), so an escaping bug upstream cannot become script here.

Colours: axis text and grid lines use one mid grey that reads on a light and on a dark
page, and the background is transparent, so one SVG serves both colour schemes.
"""
from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection
from typing import Any

from .errors import WeblogError
from .views import WEEKDAYS

MUTED = "#8b93a1"
# Arial-metric faces first: vl-convert measures labels with the first face it finds, and
# the reader's browser draws them with the first face it has; the two should agree
FONT = "'Helvetica Neue', Helvetica, Arial, 'Liberation Sans', sans-serif"
WIDE, HALF, HEIGHT = 880, 400, 170
#: axis labels 1.5k, 20M ... and a plain 0 (d3's '~s' writes '0k' on some scales)
SI = "datum.value == 0 ? '0' : format(datum.value, '~s')"
#: series colours (visitors, pageviews, humans, bots, bytes; status classes and channels)
BLUE, VIOLET, TEAL, AMBER, GREY = "#3b82f6", "#8b5cf6", "#14b8a6", "#f59e0b", "#94a3b8"
GREEN, RED, PINK = "#22c55e", "#ef4444", "#ec4899"
STATUS_COLOURS = {"2xx": GREEN, "3xx": BLUE, "4xx": AMBER, "5xx": RED}
CHANNEL_COLOURS = {"internal": GREY, "direct": BLUE, "search": GREEN, "social": PINK,
                   "external": AMBER}
#: the class of a legend swatch per series colour (static/weblog.css: `.swatch.s-NAME`)
SWATCHES = {BLUE: "blue", VIOLET: "violet", TEAL: "teal", AMBER: "amber", GREY: "grey",
            GREEN: "green", RED: "red", PINK: "pink"}
VISITOR_SERIES = {"visitors": ("Visitors", BLUE), "human_visitors": ("Human visitors", TEAL),
                  "pageviews": ("Pageviews", VIOLET)}
HIT_SERIES = {"Humans": TEAL, "Bots": AMBER}

CONFIG: dict[str, Any] = {
    "background": None,
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelColor": MUTED, "titleColor": MUTED, "gridColor": MUTED, "gridOpacity": 0.18,
             "domainColor": MUTED, "domainOpacity": 0.5, "tickColor": MUTED, "tickOpacity": 0.5,
             "labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal",
             "labelPadding": 4},
    "legend": {"labelColor": MUTED, "titleColor": MUTED, "labelFontSize": 11,
               "titleFontSize": 11, "orient": "top", "direction": "horizontal",
               "symbolSize": 80},
    "title": {"color": MUTED},
    "bar": {"cornerRadiusEnd": 2},
}

_SVG = "{http://www.w3.org/2000/svg}"
#: drawing elements vl-convert emits; anything else (script, foreignObject, a, image,
#: use, animate, style ...) is refused
ALLOWED_TAGS = {f"{_SVG}{t}" for t in (
    "svg", "g", "path", "rect", "line", "text", "tspan", "circle", "ellipse", "polygon",
    "polyline", "defs", "clipPath", "linearGradient", "radialGradient", "stop", "title",
    "desc")}
_REFUSED_ATTRIBUTES = {"style", "href", "{http://www.w3.org/1999/xlink}href", "src"}


class ChartError(WeblogError):
    """A rendered chart held something other than plain SVG drawing."""


def checked_svg(svg: str) -> str:
    """The SVG unchanged when it only draws; ChartError otherwise."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        raise ChartError("A chart did not render to well-formed SVG.") from None
    for element in root.iter():
        if element.tag not in ALLOWED_TAGS:
            raise ChartError(f"A chart holds a <{element.tag.split('}')[-1]}> element.")
        for name in element.attrib:
            if name.lower().startswith("on") or name in _REFUSED_ATTRIBUTES:
                raise ChartError(f"A chart holds a {name!r} attribute.")
    return svg


def render_svg(spec: dict[str, Any]) -> str:
    """Render a Vega-Lite spec to checked SVG markup."""
    import vl_convert

    full = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "config": CONFIG,
            **spec}
    return checked_svg(vl_convert.vegalite_to_svg(full))


# --------------------------------------------------------------------------- specs

#: more days than this: no tick per day and no point per value, they would form a comb
DENSE_DAYS = 31
#: room one day label ('Nov 30') takes on the x axis, with its separation, in pixels
LABEL_WIDTH = 52
#: at most this many day labels on an axis: vl-convert measures each label (~1.5 ms a
#: label), and a wide chart has room for 16 that nobody needs
MAX_DAY_LABELS = 9


def _day_axis(daily: list[dict], width: int) -> dict[str, Any]:
    """Days (ISO dates) as an ordered band/point scale labelled 'Nov 3': bars and points
    line up with their label. A range with more days than labels fit in `width` labels
    every k-th day, counted back from the last one: Vega's own overlap removal measures
    every label, which made a 90-day chart cost four times as much to draw."""
    days = [_label(r["day"]) for r in daily]
    axis: dict[str, Any] = {"labelAngle": 0, "labelOverlap": "greedy", "grid": False,
                            "labelSeparation": 6, "ticks": len(days) <= DENSE_DAYS,
                            "labelExpr": "utcFormat(toDate(datum.value), '%b %-d')"}
    fit = min(max(2, width // LABEL_WIDTH), MAX_DAY_LABELS)
    if len(days) > fit:
        step = -(-len(days) // fit)  # ceil
        axis["values"] = days[::-1][::step][::-1]
        axis["labelOverlap"] = False  # chosen to fit: nothing to measure
    return {"field": "day", "type": "ordinal", "sort": None, "title": None, "axis": axis}


def _label(day: dt.date) -> str:
    return day.isoformat()


def visitors_spec(daily: list[dict], visitor_days: bool) -> dict[str, Any]:
    """Visitors, human visitors and pageviews per day (lines)."""
    label = {key: name for key, (name, _) in VISITOR_SERIES.items()}
    values = [{"day": _label(r["day"]), "measure": label[k], "value": r[k]}
              for r in daily for k in label]
    return {
        "description": "Visitors, human visitors and pageviews per day",
        "width": WIDE, "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "line", "point": {"size": 28} if len(daily) <= DENSE_DAYS else False,
                 "strokeWidth": 2, "interpolate": "monotone"},
        "encoding": {
            "x": _day_axis(daily, WIDE),
            "y": {"field": "value", "type": "quantitative", "title": None,
                  "axis": {"labelExpr": SI, "tickCount": 5}},
            "color": {"field": "measure", "type": "nominal", "title": None, "legend": None,
                      "scale": {"domain": list(label.values()),
                                "range": [colour for _, colour in VISITOR_SERIES.values()]}},
        },
    }


def hits_spec(daily: list[dict]) -> dict[str, Any]:
    """Hits per day, humans and bots stacked: bars, or an area for more than DENSE_DAYS
    days (180 bars a pixel or two wide read as an area anyway, and took twice as long
    to draw as the whole area)."""
    values = []
    for r in daily:
        if r["hits"] is None:
            continue
        values.append({"day": _label(r["day"]), "who": "Humans",
                       "hits": r["hits"] - r["bot_hits"]})
        values.append({"day": _label(r["day"]), "who": "Bots", "hits": r["bot_hits"]})
    return {
        "description": "Hits per day by humans and bots",
        "width": HALF, "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "bar"} if len(values) <= 2 * DENSE_DAYS else
                {"type": "area", "interpolate": "monotone"},
        "encoding": {
            "x": _day_axis([r for r in daily if r["hits"] is not None], HALF),
            "y": {"field": "hits", "type": "quantitative", "stack": "zero", "title": None,
                  "axis": {"labelExpr": SI, "tickCount": 5}},
            "color": {"field": "who", "type": "nominal", "title": None, "legend": None,
                      "scale": {"domain": list(HIT_SERIES), "range": list(HIT_SERIES.values())}},
            "order": {"field": "who", "sort": "descending"},
        },
    }


def bytes_spec(daily: list[dict]) -> dict[str, Any]:
    """Bytes sent per day (area)."""
    values = [{"day": _label(r["day"]), "bytes": r["bytes"]} for r in daily]
    return {
        "description": "Bytes sent per day",
        "width": HALF, "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "area", "line": {"color": VIOLET, "strokeWidth": 2},
                 "color": VIOLET, "opacity": 0.25, "interpolate": "monotone"},
        "encoding": {
            "x": _day_axis(daily, HALF),
            "y": {"field": "bytes", "type": "quantitative", "title": None,
                  "axis": {"tickCount": 5, "labelExpr": SI + " + 'B'"}},
        },
    }


def heatmap_spec(hours: list[dict]) -> dict[str, Any]:
    """Average hits per hour of day (site time) and weekday."""
    values = [{"weekday": WEEKDAYS[r["weekday"]], "hour": r["hour"],
               "hits": round(float(r["avg_hits"]), 1)} for r in hours]
    return {
        "description": "Average hits per hour of day and weekday",
        "width": WIDE, "height": 7 * 24,
        "data": {"values": values},
        "mark": {"type": "rect", "cornerRadius": 3, "stroke": None},
        "encoding": {
            "x": {"field": "hour", "type": "ordinal", "title": "hour of day (site time)",
                  # every third hour labelled: each label costs vl-convert a measurement
                  "axis": {"labelAngle": 0, "grid": False, "domain": False, "ticks": False,
                           "values": list(range(0, 24, 3))}},
            "y": {"field": "weekday", "type": "ordinal", "title": None, "sort": list(WEEKDAYS),
                  "scale": {"domain": list(WEEKDAYS)},
                  "axis": {"grid": False, "domain": False, "ticks": False}},
            "color": {"field": "hits", "type": "quantitative", "title": None,
                      "scale": {"scheme": "tealblues", "zero": True},
                      "legend": {"orient": "right", "direction": "vertical",
                                 "gradientLength": 120}},
        },
        "config": {**CONFIG, "scale": {"bandPaddingInner": 0.12}},
    }


def status_spec(daily: list[dict]) -> dict[str, Any]:
    """Share of each status class per day (normalised stacked bars)."""
    values = [{"day": _label(r["day"]), "class": c, "hits": r[f"status_{c}"]}
              for r in daily if r["hits"] is not None for c in STATUS_COLOURS]
    daily = [r for r in daily if r["hits"] is not None]
    return {
        "description": "Share of hits per status class and day",
        "width": HALF, "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "bar", "cornerRadiusEnd": 0},
        "encoding": {
            "x": _day_axis(daily, HALF),
            "y": {"field": "hits", "type": "quantitative", "stack": "normalize", "title": None,
                  "axis": {"format": "%", "tickCount": 5}},
            "color": {"field": "class", "type": "nominal", "title": None, "legend": None,
                      "scale": {"domain": list(STATUS_COLOURS),
                                "range": list(STATUS_COLOURS.values())}},
            "order": {"field": "class", "sort": "descending"},
        },
    }


def _channels_shown(channels: list[dict]) -> list[str]:
    return [c for c in CHANNEL_COLOURS if any(r["referrer_class"] == c for r in channels)]


def channels_spec(channels: list[dict]) -> dict[str, Any]:
    """Pageviews by referrer class (donut)."""
    values = [{"channel": r["referrer_class"], "pageviews": r["pageviews"]} for r in channels]
    known = _channels_shown(channels)
    return {
        "description": "Pageviews by channel",
        "width": HALF - 120, "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "arc", "innerRadius": 48, "outerRadius": 82, "padAngle": 0.01},
        "encoding": {
            "theta": {"field": "pageviews", "type": "quantitative", "stack": True},
            "color": {"field": "channel", "type": "nominal", "title": None, "legend": None,
                      "scale": {"domain": known, "range": [CHANNEL_COLOURS[c] for c in known]}},
            "order": {"field": "pageviews", "sort": "descending"},
        },
    }


LABEL_CHARS = 44  # a label from the logs is cut: rendering a 10 MB path takes forever


def _labels(texts: list[str | None]) -> list[str]:
    """Axis labels for values from the logs: cut to LABEL_CHARS, still distinct (bars are
    keyed by their label). Cut here, not by Vega's labelLimit: that measures every label
    again and again (a third of the chart's drawing time)."""
    out: list[str] = []
    for text in texts:
        label = "(none)" if text is None else (
            text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…")
        base, n = label, 1
        while label in out:
            n += 1
            label = f"{base} ({n})"
        out.append(label)
    return out


def pages_spec(pages: list[dict], top: int = 10) -> dict[str, Any]:
    """Top pages by pageviews (horizontal bars; labels are paths from the logs)."""
    values = [{"path": label, "pageviews": r["pageviews"]}
              for label, r in zip(_labels([r["path"] for r in pages[:top]]), pages)]
    return {
        "description": "Top pages by pageviews",
        "width": 520, "height": {"step": 18},
        "data": {"values": values},
        "mark": {"type": "bar", "color": BLUE},
        "encoding": {
            "y": {"field": "path", "type": "nominal", "title": None, "sort": "-x",
                  "axis": {"labelLimit": 0, "domain": False, "ticks": False}},
            "x": {"field": "pageviews", "type": "quantitative", "title": None,
                  "axis": {"labelExpr": SI, "tickCount": 4}},
        },
    }


#: every chart of a page: the part of views.collect's output it is drawn from, its spec.
#: In drawing order: the longest first (the visitors chart, ~45 ms), the heatmap and the
#: table charts as their parts arrive
_CHARTS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "visitors": ("daily", lambda d: visitors_spec(d["daily"], d["visitor_days"])),
    "status": ("daily", lambda d: status_spec(d["daily"])),
    "hits": ("daily", lambda d: hits_spec(d["daily"])),
    "bytes": ("daily", lambda d: bytes_spec(d["daily"])),
    "heatmap": ("hours", lambda d: heatmap_spec(d["hours"])),
    "pages": ("tables", lambda d: pages_spec(d["tables"]["pages"])),
    "channels": ("tables", lambda d: channels_spec(d["tables"]["channels"])),
}


def chart_specs(data: dict[str, Any], skip: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """The Vega-Lite spec of every chart of a page (views.collect output), by name: those
    whose part `data` already has (all of them once collect is done), except `skip`."""
    return {name: spec(data) for name, (part, spec) in _CHARTS.items()
            if part in data and name not in skip}


def chart_legends(data: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """(label, swatch class) of each series, by chart: the legends the pages draw in HTML
    next to the charts of chart_specs. In the SVG, vl-convert measures every legend label
    (~2 ms each): the four legends were a quarter of a page's drawing time (194 -> 143 ms
    for the seven charts of a 79-day range)."""
    def entries(colours: dict[str, str]) -> list[tuple[str, str]]:
        return [(label, SWATCHES[colour]) for label, colour in colours.items()]

    return {
        "visitors": entries(dict(VISITOR_SERIES.values())),
        "hits": entries(HIT_SERIES),
        "status": entries(STATUS_COLOURS),
        "channels": entries({c: CHANNEL_COLOURS[c]
                             for c in _channels_shown(data["tables"]["channels"])}),
    }


#: starts drawing a spec; returns how to get its SVG (the dashboard: on its chart workers)
Draw = Callable[[dict[str, Any]], Callable[[], str]]


def draw_here(spec: dict[str, Any]) -> Callable[[], str]:
    """Draw a spec now, in this process."""
    svg = render_svg(spec)
    return lambda: svg


def render_each(specs: list[dict[str, Any]]) -> list[str]:
    """Draw specs one after the other in this process."""
    return [render_svg(spec) for spec in specs]


class PageCharts:
    """The charts of one page, each started as soon as views.collect has read its part
    (`ready` is collect's callback): on the dashboard's chart workers they are drawn while
    the page's other queries run, instead of after them."""

    def __init__(self, draw: Draw = draw_here) -> None:
        self.draw = draw
        self.started: dict[str, Callable[[], str]] = {}

    def ready(self, data: dict[str, Any]) -> None:
        for name, spec in chart_specs(data, skip=self.started).items():
            self.started[name] = self.draw(spec)

    def svgs(self) -> dict[str, str]:
        """{name: SVG} of every chart started, ids scoped by chart (see named)."""
        return {name: scoped_ids(svg(), name) for name, svg in self.started.items()}


def charts(data: dict[str, Any], draw: Draw = draw_here) -> dict[str, str]:
    """Every chart of a report or dashboard page (views.collect output) as SVG markup."""
    page = PageCharts(draw)
    page.ready(data)
    return page.svgs()


def named(specs: dict[str, Any], svgs: list[str]) -> dict[str, str]:
    """{name: SVG} of a page's charts, each one's ids scoped by its name (scoped_ids)."""
    return {name: scoped_ids(svg, name) for name, svg in zip(specs, svgs, strict=True)}


# vl-convert writes one space between attributes; a literal ' id="' lets the regex engine
# skip ahead by substring search (8.3 -> 0.9 ms for a page's 260 KB of SVG, against \b)
_ID = re.compile(r' id="([^"]+)"')
_ID_OR_REF = re.compile(r'( id="|url\(#)([^"\)]+)(?=["\)])')


def scoped_ids(svg: str, scope: str) -> str:
    """The chart with its ids (clip paths, gradients) renamed SCOPE-1, SCOPE-2, ... in order.

    vl-convert numbers them with a counter of its process: two processes (the dashboard's
    chart workers) hand out the same ids, and an inline SVG's id is global to the HTML
    page, so one chart would clip by another's path. Scoped by the chart's name they are
    unique in a page, and a chart's SVG no longer depends on what was drawn before it.
    """
    ids = list(dict.fromkeys(_ID.findall(svg)))
    if not ids:
        return svg
    new = {old: f"{scope}-{i}" for i, old in enumerate(ids, 1)}
    return _ID_OR_REF.sub(lambda m: m.group(1) + new.get(m.group(2), m.group(2)), svg)


def ignore_interrupts() -> None:
    """Initializer of a chart worker process: Ctrl-C reaches the whole process group, and
    the server, not its workers, decides when they stop (no KeyboardInterrupt tracebacks)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def warm_up(_: object = None) -> int:
    """Start vl-convert's JavaScript engine (the first chart of a process takes ~0.5 s);
    returns the process id (the chart workers of `weblog serve` are warmed with it)."""
    import os

    render_svg({"mark": "point", "data": {"values": []}})
    return os.getpid()

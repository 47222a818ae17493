"""pipelines.charts: Vega-Lite rendered by vl-convert to SVG that only draws."""
from __future__ import annotations

import datetime as dt
import re

import pytest

import views_fixture as vf
from pipelines import charts, pages, views, warehouse


def test_labels_from_logs_are_escaped_text():
    spec = charts.pages_spec([{"path": vf.SCRIPT, "pageviews": 3},
                              {"path": vf.IMG, "pageviews": 2},
                              {"path": "]]>&amp;\u202e", "pageviews": 1}])
    svg = charts.render_svg(spec)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</text>" in svg
    assert "&gt;&lt;img src=x onerror=alert(1)&gt;</text>" in svg
    assert "]]&gt;&amp;amp;" in svg
    doc = vf.assert_no_markup_injected(svg)
    assert vf.SCRIPT in doc.text() and vf.IMG in doc.text()


@pytest.mark.parametrize("svg, what", [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
    ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "'onload'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><g onclick="x()"/></svg>', "'onclick'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>', "<foreignObject>"),
    ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
     '<a xlink:href="javascript:alert(1)"><text>x</text></a></svg>', "<a>"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><image href="https://example.com/x.png"/></svg>',
     "<image>"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://example.com)"/>'
     '</svg>', "'style'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><use href="#x"/></svg>', "<use>"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><text>unclosed</svg>', "well-formed"),
])
def test_anything_but_drawing_is_refused(svg, what):
    with pytest.raises(charts.ChartError, match=re.escape(what)):
        charts.checked_svg(svg)


def test_plain_drawing_passes():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><g><rect width="1" '
           'height="2" fill="#fff"/><text>a &lt;b&gt;</text></g></svg>')
    assert charts.checked_svg(svg) == svg


def test_every_chart_of_a_period(views_warehouse):
    cfg, _ = views_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        data = views.collect(con, views.resolve_period(con, None, None))
        empty = views.collect(con, views.Period(dt.date(2020, 1, 1), dt.date(2020, 1, 7)))
    finally:
        con.close()
    out = charts.charts(data)
    assert set(out) == {"visitors", "hits", "bytes", "heatmap", "status", "channels", "pages"}
    for name, svg in out.items():
        assert svg.startswith("<svg") and len(re.findall(r"<(path|rect)\b", svg)) > 5, name
    # the heatmap has a cell per weekday and hour of the days it covers
    assert out["heatmap"].count('aria-roledescription="rect mark"') == 3 * 24
    # a period without statistics still draws (empty) charts instead of failing
    for name, svg in charts.charts(empty).items():
        assert svg.startswith("<svg"), name


def test_ids_are_scoped_by_chart_and_numbered_in_order():
    """vl-convert's clip-path and gradient ids come from a per-process counter: scoped,
    two charts of a page never share one, and a chart's SVG is the same every time."""
    spec = charts.pages_spec([{"path": f"/p{i}", "pageviews": 10 - i} for i in range(3)])
    first, second = charts.render_svg(spec), charts.render_svg(spec)
    assert first != second  # the counter moved on
    a, b = charts.scoped_ids(first, "pages"), charts.scoped_ids(second, "pages")
    assert a == b
    ids = re.findall(r'\bid="([^"]+)"', a)
    assert ids and ids == [f"pages-{i}" for i in range(1, len(ids) + 1)]
    assert set(re.findall(r"url\(#([^)]+)\)", a)) <= set(ids)
    other = charts.scoped_ids(first, "hits")
    assert not set(re.findall(r'\bid="([^"]+)"', other)) & set(ids)


@pytest.fixture(scope="module")
def page_data(views_warehouse) -> dict:
    """What the default page of the views fixture shows (views.collect)."""
    cfg, _ = views_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return views.collect(con, views.resolve_period(con, None, None))
    finally:
        con.close()


def test_a_page_has_no_duplicate_ids(page_data):
    ids = [i for svg in charts.charts(page_data).values()
           for i in re.findall(r'\bid="([^"]+)"', svg)]
    assert ids and len(ids) == len(set(ids))


def test_each_chart_starts_when_its_part_of_the_page_is_read(views_warehouse, page_data):
    """views.collect tells PageCharts after the daily series, the week's hours and the
    tables: each chart is started once, as soon as its data is read (on the dashboard, the
    workers draw while the page's other queries run), and the page is the same."""
    cfg, _ = views_warehouse
    started: list[list[str]] = []  # the charts started at each call of `ready`
    page = charts.PageCharts(lambda spec: (lambda: "<svg/>"))  # no drawing: the order

    def ready(data: dict) -> None:
        before = set(page.started)
        page.ready(data)
        started.append([name for name in page.started if name not in before])

    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        data = views.collect(con, views.resolve_period(con, None, None), ready=ready)
    finally:
        con.close()
    assert started == [["visitors", "status", "hits", "bytes"], ["heatmap"],
                       ["pages", "channels"]]
    assert data == page_data  # the same page as without `ready`
    assert set(page.svgs()) == set(charts.chart_specs(page_data))
    # started charts are not drawn again
    page.ready(data)
    assert len(page.started) == 7


def test_chart_specs_are_those_whose_part_is_read(page_data):
    daily_only = {k: page_data[k] for k in ("daily", "visitor_days")}
    assert list(charts.chart_specs(daily_only)) == ["visitors", "status", "hits", "bytes"]
    assert list(charts.chart_specs(page_data, skip={"visitors", "pages"})) == [
        "status", "hits", "bytes", "heatmap", "channels"]
    assert charts.chart_specs({}) == {}


def test_legends_are_the_charts_colour_scales(page_data):
    """Each HTML legend lists the series of its chart's colour scale, in order and in the
    scale's colours, and the chart itself draws no legend (vl-convert measures its labels)."""
    specs, legends = charts.chart_specs(page_data), charts.chart_legends(page_data)
    assert set(legends) == {"visitors", "hits", "status", "channels"}
    colour_of = {name: colour for colour, name in charts.SWATCHES.items()}
    for name, legend in legends.items():
        colour = specs[name]["encoding"]["color"]
        assert colour["legend"] is None, name
        scale = dict(zip(colour["scale"]["domain"], colour["scale"]["range"], strict=True))
        assert {label: colour_of[swatch] for label, swatch in legend} == scale, name
        assert [label for label, _ in legend] == list(scale), name


def test_every_swatch_has_its_colour_in_the_stylesheet():
    css = (pages.STATIC / "weblog.css").read_text(encoding="utf-8")
    rules = dict(re.findall(r"\.swatch\.s-(\w+) \{ background: (#[0-9a-f]{6}); \}", css))
    assert rules == {name: colour for colour, name in charts.SWATCHES.items()}

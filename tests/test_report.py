"""pipelines.report and `weblog report`: one self-contained HTML file, every chart and
table present, nothing fetched, and log values shown as text."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import stats_fixture as sf
import views_fixture as vf
from pipelines import charts, pages, raw, views, warehouse
from pipelines.aggregate import STATS_TABLES
from pipelines.cli import cli
from pipelines.report import default_output, render_report, report_csp

D1, D2, D3 = sf.DAYS
CHARTS = ("visitors", "hits", "bytes", "heatmap", "status", "channels", "pages")


def run(cfg, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "report", *args],
                              env={"WEBLOG_CONFIG": None}, catch_exceptions=False)


def render(cfg, start=D1, end=D3, vhost=None) -> str:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return render_report(con, cfg, views.Period(start, end), vhost)
    finally:
        con.close()


@pytest.fixture(scope="module")
def report_html(views_warehouse) -> str:
    cfg, _ = views_warehouse
    return render(cfg)


# --------------------------------------------------------------------------- structure

def test_every_chart_is_inline_non_empty_svg(report_html):
    doc = vf.Html.parse(report_html)
    figures = [a["data-chart"] for t, a in doc.tags if t == "figure" and "data-chart" in a]
    assert sorted(figures) == sorted(CHARTS)
    for name in CHARTS:
        svg = re.search(rf'<figure data-chart="{name}">.*?(<svg.*?</svg>)', report_html, re.S)
        assert svg, name
        body = svg.group(1)
        assert 'viewBox="0 0 ' in body
        # drawn marks, not an empty frame (the donut: one arc per channel)
        if name == "channels":
            assert body.count('aria-roledescription="arc mark"') >= 3, name
        else:
            assert len(re.findall(r"<(path|rect|line)\b", body)) > 10, name


def test_legends_name_each_series_in_its_colour(report_html, views_warehouse):
    """Legends are HTML beside the charts: one entry per series, swatches in the colours
    the chart draws them in, and the donut lists exactly the channels it draws."""
    for name, expected in (("visitors", ["Visitors", "Human visitors", "Pageviews"]),
                           ("hits", ["Humans", "Bots"]),
                           ("status", ["2xx", "3xx", "4xx", "5xx"])):
        legend = re.search(rf'<figure data-chart="{name}">.*?<ul class="legend">(.*?)</ul>',
                           report_html, re.S)
        assert legend, name
        assert re.findall(r'</span>([^<]+)</li>', legend.group(1)) == expected, name
    donut = re.search(r'<figure data-chart="channels">(.*?)</figure>', report_html, re.S).group(1)
    shown = re.findall(r'</span>([^<]+)</li>', donut)
    assert len(shown) >= 3
    assert donut.count('aria-roledescription="arc mark"') == len(shown)
    swatches = re.findall(r'<span class="swatch s-(\w+)"></span>([^<]+)</li>', donut)
    assert swatches == [(charts.SWATCHES[charts.CHANNEL_COLOURS[c]], c) for c in shown]


def test_every_table_and_headline_figure(report_html, views_warehouse):
    doc = vf.Html.parse(report_html)
    tables = {a["data-table"] for t, a in doc.tags if "data-table" in a}
    assert tables == {t.key for t in pages.TABLES}
    cards = [a["data-kpi"] for t, a in doc.tags if "data-kpi" in a]
    assert cards[:8] == ["visitors", "human_visitors", "pageviews", "hits", "bytes",
                         "bot_share", "status_4xx", "status_5xx"]
    assert "avg_time_served_ms" in cards  # the fixture's format logs %D
    for heading in ("Top pages", "Broken links", "Not found (404)", "Server errors (5xx)",
                    "Referring sites", "Countries", "Networks", "Browsers",
                    "Operating systems", "Devices", "Bots", "Hour of day × weekday",
                    "Status mix per day"):
        assert heading in doc.text(), heading


def test_headline_figures_are_the_tables_sums(report_html, views_warehouse):
    cfg, _ = views_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        hits, pageviews = con.execute("select sum(hits), sum(pageviews) from daily_traffic"
                                      ).fetchall()[0]
    finally:
        con.close()
    card = re.search(r'data-kpi="hits">.*?class="value">([^<]+)<', report_html, re.S)
    assert card.group(1) == f"{hits:,}"
    card = re.search(r'data-kpi="pageviews">.*?class="value">([^<]+)<', report_html, re.S)
    assert card.group(1) == f"{pageviews:,}"


def test_footer_states_the_policy_and_when(report_html, views_warehouse):
    cfg, _ = views_warehouse
    footer = report_html.split('<footer class="policy">', 1)[1]
    for text in (f"raw_days = {cfg.raw_days}", f"detail_days = {cfg.detail_days}",
                 f"/{cfg.ipv4_prefix}", f"/{cfg.ipv6_prefix}", f"k = {cfg.k_min}",
                 cfg.timezone):
        assert text in footer, text
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", footer)


def test_self_contained_and_fetches_nothing(report_html):
    doc = vf.Html.parse(report_html)
    head = report_html.split("<head>", 1)[1]
    # the policy comes first, before anything it governs
    assert head.lstrip().startswith('<meta charset="utf-8">\n<meta http-equiv="Content-Security-'
                                    'Policy"')
    csp = doc.find("meta", http_equiv="Content-Security-Policy")[0]["content"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    style = re.search(r"<style>(.*?)</style>", report_html, re.S).group(1)
    assert pages.csp_hash(style) in csp  # the inline stylesheet is the only thing allowed
    assert csp == report_csp(style)
    for tag, attrs in doc.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "base")
        for name in ("src", "srcset", "action", "data", "poster"):
            assert name not in attrs, (tag, name)
        if tag == "link":
            assert attrs["href"].startswith("data:"), attrs
        if tag == "a":
            assert not attrs.get("href", "").startswith(("http:", "https:", "//")), attrs
    assert "url(" not in style and "@import" not in style and "@font-face" not in style


def test_log_values_render_as_text(report_html):
    """The XSS fixture: path, referrer and vhost holding markup show as text."""
    doc = vf.assert_no_markup_injected(report_html)
    text = doc.text()
    assert "/" + vf.SCRIPT in text                      # a page path (table and chart)
    assert "/err/" + vf.SCRIPT in text                  # a 5xx path
    assert '/\\"><img src=x onerror=alert(1)>' in text  # a 404 path
    assert vf.SCRIPT in text.split("Broken links", 1)[1]  # the page linking to it
    assert "&lt;script&gt;" in report_html and "<script>" not in report_html
    # the chart of top pages labels its bars with the paths, escaped by vl-convert
    chart = re.search(r'<figure data-chart="pages">(.*?)</figure>', report_html, re.S).group(1)
    assert "/&lt;script&gt;alert(1)&lt;/script&gt;</text>" in chart
    # user-agent strings never leave RAW: only their families reach the report
    assert "Mozilla/5.0 " not in text


def test_every_text_cell_is_escaped(views_copy):
    """Whatever a STATS text column holds, it is shown as text."""
    cfg, _ = views_copy
    hostile = vf.IMG + vf.SCRIPT + "</td></table></svg>{{ 7*7 }}"
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    try:
        for table, column in warehouse.text_columns(con):
            if table in STATS_TABLES and column not in ("visitor_source", "referrer_class"):
                con.execute(f'update {table} set "{column}" = ? || "{column}" where day = ?',
                            [hostile, D3])
    finally:
        con.close()
    html = render(cfg, D3, D3)
    doc = vf.assert_no_markup_injected(html)
    assert doc.text().count(hostile) >= 15
    assert "{{ 7*7 }}" in doc.text()  # data is never a template


# --------------------------------------------------------------------------- command

def test_command_writes_the_default_file_and_prints_its_path(views_copy):
    cfg, _ = views_copy
    result = run(cfg)
    assert result.exit_code == 0, result.output
    path = default_output(cfg.data_dir, views.Period(D1, D3), None)
    assert result.output.strip() == str(path)
    assert path.name == f"report-{D1}-{D3}.html" and path.parent.name == "reports"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_command_range_vhost_and_output(views_copy, tmp_path):
    cfg, _ = views_copy
    out = tmp_path / "shop.html"
    result = run(cfg, "--from", D2.isoformat(), "--to", D2.isoformat(), "--vhost",
                 sf.VHOSTS[1], "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert f"{D2} · 1 day · {sf.VHOSTS[1]}" in html
    # the default name of a vhost report keeps only safe characters
    assert default_output(cfg.data_dir, views.Period(D2, D2), "../x y").name == \
        f"report-{D2}-{D2}-x_y.html"


@pytest.mark.parametrize("args, message", [
    (["--vhost", "nowhere.example.org"], "No statistics for vhost"),
    (["--from", "2026-03-03", "--to", "2026-03-01"], "is after"),
    (["--from", "yesterday"], "is not a date"),
])
def test_command_bad_arguments(views_warehouse, tmp_path, args, message):
    cfg, _ = views_warehouse
    result = run(cfg, *args, "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_command_without_statistics(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    warehouse.connect(cfg.data_dir).close()
    result = run(cfg)
    assert result.exit_code == 2 and "run `weblog aggregate` first" in result.output

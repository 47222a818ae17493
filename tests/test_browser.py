"""The report and the live dashboard in a real browser: Debian's Chromium driven by
Playwright (never a downloaded browser build).

Every page is opened through `guarded`, which records dialogs (an injected script that
ran would open one), aborts and records every request that is not to this machine, and
keeps console errors (a Content-Security-Policy violation is one). The XSS checks run
with the page's CSP bypassed, so they test the escaping itself, not only the policy;
control tests show that the guard does catch a script and a remote request.

Screenshots of each page go to test-artifacts/ (git-ignored). Without /usr/bin/chromium
these tests skip, except under CI (env CI set), where they fail.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

import stats_fixture as sf
import views_fixture as vf
from pipelines import views, warehouse
from pipelines.report import render_report

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
CHARTS = ("visitors", "hits", "bytes", "heatmap", "status", "channels", "pages")
D1, D2, D3 = sf.DAYS


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, with Debian's Chromium."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (required under CI; `make test` installs it)")
        pytest.skip(f"{CHROMIUM} is absent (`make system-deps` installs it)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


# --------------------------------------------------------------------------- the guard

def is_local(url: str) -> bool:
    parts = urlparse(url)
    if parts.scheme in ("file", "data", "about", "blob"):
        return True
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


@dataclass
class Guard:
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def guard(page) -> Guard:
    g = Guard()

    def on_dialog(dialog) -> None:
        g.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_route(route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            g.blocked.append(url)
            route.abort()

    page.on("dialog", on_dialog)
    page.on("request", lambda request: g.requests.append(request.url))
    page.on("console", lambda msg: g.console.append(msg.text) if msg.type == "error" else None)
    page.context.route("**/*", on_route)
    return g


@pytest.fixture
def guarded(page):
    """(page, guard) with the page's Content-Security-Policy in force."""
    return page, guard(page)


@pytest.fixture
def unprotected(new_context):
    """(page, guard) with Content-Security-Policy bypassed: escaping alone must hold."""
    page = new_context(bypass_csp=True).new_page()
    return page, guard(page)


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def assert_charts_drawn(page) -> None:
    for name in CHARTS:
        svg = page.locator(f'figure[data-chart="{name}"] svg').first
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 60, (name, box)
        if name == "channels":  # the donut: one arc per channel its legend lists
            arcs = svg.evaluate(
                "el => el.querySelectorAll('[aria-roledescription=\"arc mark\"]').length")
            listed = page.locator('figure[data-chart="channels"] .legend li').count()
            assert arcs == listed >= 3, (arcs, listed)
            continue
        marks = svg.evaluate("el => el.querySelectorAll('path, rect, line').length")
        assert marks > 10, name


def assert_clean(g: Guard) -> None:
    assert g.dialogs == []
    assert g.blocked == [] and all(is_local(u) for u in g.requests), g.requests
    assert [c for c in g.console if "Content Security Policy" in c or "Refused" in c] == []


def assert_xss_is_text(page) -> None:
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert page.get_by_text("/" + vf.SCRIPT, exact=True).count() >= 1
    assert page.get_by_text('/\\"><img src=x onerror=alert(1)>', exact=True).count() >= 1


# --------------------------------------------------------------------------- controls

def test_the_guard_catches_a_script_and_a_remote_request(guarded, unprotected):
    page, g = unprotected
    page.set_content("<p>x</p><script>alert('ran')</script>")
    assert g.dialogs == ["ran"]
    page, g = guarded
    page.set_content('<img src="https://example.com/pixel.png">')
    page.wait_for_timeout(300)
    assert g.blocked == ["https://example.com/pixel.png"]


# --------------------------------------------------------------------------- report

@pytest.fixture(scope="module")
def report_file(views_warehouse, tmp_path_factory) -> Path:
    cfg, _ = views_warehouse
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        html = render_report(con, cfg, views.Period(D1, D3))
    finally:
        con.close()
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_report_loads_offline_with_its_charts(guarded, report_file):
    page, g = guarded
    page.goto(report_file.as_uri())
    assert page.title().startswith("Traffic report")
    assert_charts_drawn(page)
    # the stylesheet applied under the report's own CSP (allowed by its hash)
    radius = page.locator(".card").first.evaluate("el => getComputedStyle(el).borderRadius")
    assert radius == "12px"
    assert page.locator("[data-table]").count() == 15
    assert g.requests == [report_file.as_uri()]  # the file itself, nothing else
    assert_clean(g)
    shot(page, "report")


def test_report_shows_hostile_log_values_as_text(unprotected, report_file):
    page, g = unprotected
    page.goto(report_file.as_uri())
    assert_xss_is_text(page)
    page.wait_for_timeout(200)
    assert_clean(g)


def test_report_in_dark_mode(new_context, report_file):
    page = new_context(color_scheme="dark").new_page()
    g = guard(page)
    page.goto(report_file.as_uri())
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(14, 17, 22)"
    assert_clean(g)
    shot(page, "report-dark")


# --------------------------------------------------------------------------- dashboard

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(views_warehouse, tmp_path_factory):
    """`weblog serve` in a subprocess on a free loopback port: its base URL."""
    cfg, _ = views_warehouse
    folder = tmp_path_factory.mktemp("serve")
    config = folder / "weblog.toml"
    config.write_text(f'data_dir = "{cfg.data_dir.as_posix()}"\ntimezone = "{cfg.timezone}"\n'
                      f"[retention]\nraw_days = {cfg.raw_days}\ndetail_days = {cfg.detail_days}\n"
                      f"[stats]\nk_min = {cfg.k_min}\n", encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLOG_")}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--config", str(config),
                             "serve", "--port", str(port)], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/static/weblog.css", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("weblog serve did not start: " + proc.stdout.read())
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def scalar(cfg, sql: str, *params):
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()[0][0]
    finally:
        con.close()


def card(page, key: str) -> str:
    return page.locator(f'[data-kpi="{key}"] .value').inner_text()


def test_dashboard_loads_and_the_date_picker_changes_the_figures(guarded, server,
                                                                views_warehouse):
    cfg, _ = views_warehouse
    page, g = guarded
    page.goto(server + "/")
    assert_charts_drawn(page)
    all_hits = scalar(cfg, "select sum(hits) from daily_traffic")
    d1_hits = scalar(cfg, "select sum(hits) from daily_traffic where day = ?", D1)
    assert card(page, "hits") == f"{all_hits:,}"
    assert page.locator('input[name="from"]').input_value() == D1.isoformat()
    shot(page, "dashboard")

    page.fill('input[name="from"]', D1.isoformat())
    page.fill('input[name="to"]', D1.isoformat())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert f"from={D1}" in page.url and f"to={D1}" in page.url
    assert card(page, "hits") == f"{d1_hits:,}" != f"{all_hits:,}"
    assert "1 day" in page.locator(".page-head .sub").inner_text()
    assert_charts_drawn(page)

    page.select_option('select[name="vhost"]', sf.VHOSTS[1])
    with page.expect_navigation():
        page.click("button[type=submit]")
    shop = scalar(cfg, "select hits from daily_traffic where day = ? and vhost = ?", D1,
                  sf.VHOSTS[1])
    assert card(page, "hits") == f"{shop:,}"
    shot(page, "dashboard-one-day-one-site")
    assert_clean(g)


def test_dashboard_shows_hostile_log_values_as_text(unprotected, server):
    page, g = unprotected
    page.goto(f"{server}/?from={D3}&to={D3}")
    assert_xss_is_text(page)
    # the hostile vhost is an option of the filter, as text
    options = page.locator('select[name="vhost"] option').all_inner_texts()
    assert vf.HOSTILE_VHOST in options
    page.select_option('select[name="vhost"]', vf.HOSTILE_VHOST)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert vf.HOSTILE_VHOST in page.locator(".page-head .sub").inner_text()
    page.wait_for_timeout(200)
    assert_clean(g)


def test_audit_and_api_pages(guarded, server):
    page, g = guarded
    page.goto(server + "/audit")
    assert page.locator("h1").inner_text() == "Audit"
    assert page.locator('[data-verdict="NONE"]').count() == 1
    assert re.match(r"\d{4}-\d\d-\d\d$", page.locator('[data-fact="window-start"]').inner_text())
    assert page.locator('[data-audit="ingests"] tbody tr').count() >= 2
    shot(page, "audit")
    page.click("text=API")
    page.wait_for_load_state()
    assert page.url == server + "/docs"
    assert page.locator('[data-endpoint="/api/v1/daily_pages"]').count() == 1
    shot(page, "api-docs")
    response = page.goto(server + "/api/v1/daily_traffic?limit=1")
    assert response.headers["content-type"] == "application/json"
    assert_clean(g)

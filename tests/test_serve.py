"""pipelines.serve: the dashboard, the JSON API and the audit page, served from the
published snapshot with bound parameters, allow-listed tables and strict headers."""
from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys

import duckdb
import pytest
from fastapi.testclient import TestClient

import stats_fixture as sf
import views_fixture as vf
from pipelines import ledger, audit_view, raw, warehouse
from pipelines.aggregate import STATS_TABLES
from pipelines.publish import publish, snapshot_path
from pipelines.serve import CSP, api_endpoints, create_app, is_loopback

D1, D2, D3 = sf.DAYS
BASE = "http://127.0.0.1"


def client(cfg) -> TestClient:
    return TestClient(create_app(cfg), base_url=BASE)


@pytest.fixture(scope="module")
def app(views_warehouse) -> TestClient:
    cfg, _ = views_warehouse
    return client(cfg)


def warehouse_rows(cfg, sql: str, params=()) -> list[tuple]:
    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def card(html: str, key: str) -> str:
    return re.search(rf'data-kpi="{key}">.*?class="value">([^<]+)<', html, re.S).group(1)


# --------------------------------------------------------------------------- API

@pytest.mark.parametrize("table", STATS_TABLES)
def test_every_table_endpoint_returns_the_table(app, views_warehouse, table):
    cfg, _ = views_warehouse
    response = app.get(f"/api/v1/{table}", params={"limit": 100_000})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    expected = warehouse_rows(cfg, f"select count(*) from {table}")[0][0]
    assert body["table"] == table and body["total"] == expected == len(body["rows"]) > 0
    columns = [c for (c,) in warehouse_rows(
        cfg, "select column_name from information_schema.columns where table_name = ? "
             "order by ordinal_position", [table])]
    assert list(body["rows"][0]) == columns


def test_range_vhost_and_paging(app, views_warehouse):
    cfg, _ = views_warehouse
    body = app.get("/api/v1/daily_pages", params={"from": D2.isoformat(), "to": D2.isoformat(),
                                                  "vhost": sf.VHOSTS[1]}).json()
    assert body["total"] == warehouse_rows(
        cfg, "select count(*) from daily_pages where day = ? and vhost = ?",
        [D2, sf.VHOSTS[1]])[0][0]
    assert {(r["day"], r["vhost"]) for r in body["rows"]} == {(D2.isoformat(), sf.VHOSTS[1])}
    first = app.get("/api/v1/daily_pages", params={"limit": 5}).json()
    second = app.get("/api/v1/daily_pages", params={"limit": 5, "offset": 5}).json()
    both = app.get("/api/v1/daily_pages", params={"limit": 10}).json()
    assert first["rows"] + second["rows"] == both["rows"] and len(both["rows"]) == 10
    days = app.get("/api/v1/stats_days", params={"from": D3.isoformat()}).json()
    assert [r["day"] for r in days["rows"]] == [D3.isoformat()] and "vhost" not in days


@pytest.mark.parametrize("value", [
    "x' or '1'='1", "www.example.com' --", "'; drop table daily_traffic; --",
    '" or 1=1 or "', vf.SCRIPT,
])
def test_parameters_are_bound_not_formatted(app, value):
    body = app.get("/api/v1/daily_traffic", params={"vhost": value}).json()
    assert body["total"] == (1 if value == vf.SCRIPT else 0)  # the hostile vhost has a day
    assert app.get("/api/v1/daily_traffic").json()["total"] > 0  # nothing was dropped


@pytest.mark.parametrize("path", [
    "/api/v1/requests", "/api/v1/raw", "/api/v1/schema_migrations", "/api/v1/duckdb_tables",
    "/api/v1/daily_traffic;select", "/api/v1/information_schema.tables", "/api/v1/snapshot_meta",
])
def test_only_allow_listed_tables(app, path):
    assert app.get(path).status_code == 404


@pytest.mark.parametrize("params", [
    {"from": "2026-13-01"}, {"to": "yesterday"}, {"limit": 0}, {"limit": 10**9},
    {"offset": -1}, {"offset": 10**20},  # past BIGINT: refused, not a failed query
])
def test_invalid_parameters_are_rejected(app, params):
    assert app.get("/api/v1/daily_traffic", params=params).status_code == 422


def test_reversed_range(app):
    response = app.get("/api/v1/daily_traffic", params={"from": D3.isoformat(),
                                                         "to": D1.isoformat()})
    assert response.status_code == 400 and "after" in response.json()["detail"]


def test_summary_is_what_the_dashboard_shows(app, views_warehouse):
    cfg, _ = views_warehouse
    body = app.get("/api/v1/summary", params={"from": D3.isoformat(), "to": D3.isoformat(),
                                              "top": 3}).json()
    assert body["period"] == {"from": D3.isoformat(), "to": D3.isoformat()}
    hits = warehouse_rows(cfg, "select sum(hits) from daily_traffic where day = ?", [D3])[0][0]
    assert body["totals"]["hits"] == hits
    assert len(body["tables"]["pages"]) == 3 and len(body["hours"]) == 24
    assert body["previous_period"] == {"from": D2.isoformat(), "to": D2.isoformat()}


def test_openapi_and_offline_docs(app):
    spec = app.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {f"/api/v1/{t}" for t in STATS_TABLES} <= paths
    assert {"/api/v1/summary", "/api/v1/audit", "/api/v1/purge_ledger",
            "/api/v1/ingested_files"} <= paths
    row = spec["components"]["schemas"]["daily_traffic_row"]
    assert row["properties"]["hits"]["type"] == "integer" and "hits" in row["required"]
    docs = app.get("/docs")
    assert docs.status_code == 200
    doc = vf.Html.parse(docs.text)
    shown = {a["data-endpoint"] for t, a in doc.tags if "data-endpoint" in a}
    assert shown == paths
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()
    assert app.get("/redoc").status_code == 404
    traffic = next(e for e in api_endpoints(spec) if e["path"] == "/api/v1/daily_traffic")
    assert [p["name"] for p in traffic["params"]] == ["from", "to", "vhost", "limit", "offset"]
    columns = {c["name"]: c["type"] for c in traffic["columns"]}
    assert columns["day"] == "string (date)" and columns["hits"] == "integer"
    assert columns["avg_time_served_ms"] == "number or null"
    assert "avg_time_served_ms" in docs.text


# --------------------------------------------------------------------------- pages

def test_dashboard_shows_the_chosen_period_and_site(app, views_warehouse):
    cfg, _ = views_warehouse
    day1 = app.get("/", params={"from": D1.isoformat(), "to": D1.isoformat()})
    day3 = app.get("/", params={"from": D3.isoformat(), "to": D3.isoformat()})
    shop = app.get("/", params={"from": D3.isoformat(), "to": D3.isoformat(),
                                "vhost": sf.VHOSTS[1]})
    (h1,), (h3,) = (warehouse_rows(cfg, "select sum(hits) from daily_traffic where day = ?",
                                   [d])[0] for d in (D1, D3))
    shop_hits = warehouse_rows(cfg, "select hits from daily_traffic where day = ? and vhost = ?",
                               [D3, sf.VHOSTS[1]])[0][0]
    assert card(day1.text, "hits") == f"{h1:,}" and card(day3.text, "hits") == f"{h3:,}"
    assert card(shop.text, "hits") == f"{shop_hits:,}"
    doc = vf.Html.parse(shop.text)
    assert doc.find("input", name="from")[0]["value"] == D3.isoformat()
    assert "selected" in doc.find("option", value=sf.VHOSTS[1])[0]
    charts = {a["data-chart"] for t, a in doc.tags if "data-chart" in a}
    assert charts == {"visitors", "hits", "bytes", "heatmap", "status", "channels", "pages"}
    default = app.get("/")
    assert vf.Html.parse(default.text).find("input", name="to")[0]["value"] == D3.isoformat()


def test_dashboard_shows_log_values_as_text(app):
    html = app.get("/", params={"from": D3.isoformat(), "to": D3.isoformat()}).text
    doc = vf.assert_no_markup_injected(html)
    assert "/" + vf.SCRIPT in doc.text() and '"><img src=x onerror=alert(1)>' in doc.text()
    # the hostile vhost is an escaped <option>, not markup
    assert doc.find("option", value=vf.HOSTILE_VHOST)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</option>" in html


@pytest.mark.parametrize("params, status, text", [
    ({"from": "2026-02-30"}, 400, "must be a date"),
    ({"from": D3.isoformat(), "to": D1.isoformat()}, 400, "is after"),
])
def test_dashboard_bad_parameters(app, params, status, text):
    response = app.get("/", params=params)
    assert response.status_code == status and text in response.text


def test_audit_page_shows_window_ledger_and_verdict(views_copy):
    cfg, _ = views_copy
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    ledger.record(con, cfg, action="purge_raw", result="removed", cutoff=D1,
                  details={"partitions": ["date=2026-02-28"]})
    last = ledger.record(con, cfg, action="purge_rejects", result="removed", cutoff=D1,
                         details={"partitions": ["date=2026-02-28"]})
    con.close()
    publish(cfg)
    path = cfg.data_dir / audit_view.VERIFY_LATEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"verdict": "FAIL", "checked_at": "2026-03-04T02:30:00Z",
                                "checks": [{"name": "no address outside RAW", "passed": False,
                                            "detail": "found 192.0.2.77 in exports/x.csv"}]}))
    page = client(cfg).get("/audit")
    assert page.status_code == 200
    doc = vf.Html.parse(page.text)
    assert doc.find("span", data_verdict="FAIL")
    text = doc.text()
    assert "purge_rejects" in text and last.hash in text and "192.0.2.77" not in text
    assert text.index("purge_rejects") < text.index("purge_raw")  # newest first
    window = audit_view.raw_window(cfg)
    assert str(window["window_start"]) in text
    api = client(cfg).get("/api/v1/purge_ledger").json()
    assert [r["sequence"] for r in api["rows"]] == [2, 1]
    audit = client(cfg).get("/api/v1/audit").json()
    assert audit["verify"]["verdict"] == "FAIL" and audit["purge_ledger_entries"] == 2
    assert audit["window"]["oldest"] == D2.isoformat()


def test_audit_page_before_any_ledger_or_verification(app):
    page = app.get("/audit")
    assert page.status_code == 200
    doc = vf.Html.parse(page.text)
    assert doc.find("span", data_verdict="NONE")
    # the ledger table exists from the first migration on, empty until a purge
    assert "The purge ledger is empty: nothing has been purged yet." in doc.text()
    assert "Ingest ledger" in doc.text()


# --------------------------------------------------------------------------- security

def test_security_headers_on_every_response(app):
    for path in ("/", "/audit", "/docs", "/openapi.json", "/api/v1/daily_traffic",
                 "/static/weblog.css", "/static/missing.css", "/nowhere"):
        headers = app.get(path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert "script-src 'none'" in CSP and "default-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP


def test_pages_reference_nothing_outside(app):
    for path in ("/", "/audit", "/docs"):
        doc = vf.Html.parse(app.get(path).text)
        for tag, attrs in doc.tags:
            assert tag not in ("script", "iframe", "object", "embed"), (path, tag)
            for name in ("src", "href", "action"):
                value = attrs.get(name) or ""
                assert not re.match(r"^(https?:)?//", value), (path, tag, value)


def asgi_get(asgi_app, path: str) -> tuple[int, bytes]:
    """Send `path` to the application exactly as written: HTTP clients (httpx included)
    normalise dot segments before sending, a hostile client does not."""
    import anyio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    # in a thread of its own: Playwright's sync API (test_browser.py, maybe earlier in this
    # worker) keeps an event loop running in the main thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, asgi_app, scope, receive, send).result()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("path", [
    "/static/../pyproject.toml", "/static/../../pyproject.toml", "/static/../serve.py",
    "/static/..", "/static/./weblog.css/../../pages.py", "/static//etc/passwd",
    "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2F..%2Fpyproject.toml",
    "/static/..\\..\\pyproject.toml", "/static/.hidden", "/static/weblog.css\x00.py",
    "/static/templates/base.html", "/static/~/.bashrc",
])
def test_static_route_rejects_path_traversal(app, path):
    status, body = asgi_get(app.app, path)
    assert status == 404, path
    assert b"[project]" not in body and b"import" not in body and b"root:" not in body


def test_static_stylesheet(app):
    response = app.get("/static/weblog.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert asgi_get(app.app, "/static/weblog.css")[0] == 200  # the raw request helper works


def test_host_header_is_checked(views_warehouse):
    cfg, _ = views_warehouse
    assert TestClient(create_app(cfg), base_url="http://evil.example.com").get("/").status_code \
        == 400
    assert TestClient(create_app(cfg), base_url="http://localhost:8080").get("/").status_code \
        == 200
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


# --------------------------------------------------------------------------- snapshot

def test_keeps_serving_while_another_process_writes(views_copy):
    """A nightly run holds the warehouse read-write: the app reads the snapshot."""
    cfg, _ = views_copy
    app = client(cfg)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "c.execute('begin'); c.execute('update daily_traffic set hits = 0'); "
         "print('ready', flush=True); time.sleep(60)",
         str(warehouse.warehouse_path(cfg.data_dir))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        # the lock is real: this process cannot open the warehouse at all now
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(warehouse.warehouse_path(cfg.data_dir)), read_only=True)
        for path in ("/", "/audit", "/api/v1/daily_traffic", "/api/v1/summary"):
            response = app.get(path)
            assert response.status_code == 200, path
        assert app.get("/api/v1/daily_traffic").json()["rows"][0]["hits"] > 0
    finally:
        holder.kill()
        holder.wait()


def test_switches_to_a_new_snapshot_without_restart(views_copy):
    cfg, _ = views_copy
    app = client(cfg)
    before = app.get("/api/v1/daily_traffic", params={"from": D1.isoformat(),
                                                      "to": D1.isoformat()}).json()
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    con.execute("update daily_traffic set hits = hits + 1000 where day = ?", [D1])
    publish(cfg, con)
    con.close()
    after = app.get("/api/v1/daily_traffic", params={"from": D1.isoformat(),
                                                     "to": D1.isoformat()}).json()
    assert [r["hits"] + 1000 for r in before["rows"]] == [r["hits"] for r in after["rows"]]
    html = app.get("/", params={"from": D1.isoformat(), "to": D1.isoformat()}).text
    assert card(html, "hits") == f"{sum(r['hits'] for r in after['rows']):,}"
    # the replaced snapshot was let go once no request used it
    attached = app.app.state.snapshot._users
    assert len(attached) == 1


def test_before_anything_was_published(tmp_path):
    cfg = sf.fixture_config(tmp_path, {})
    app = client(cfg)
    page = app.get("/")
    assert page.status_code == 200 and "weblog aggregate" in page.text
    assert app.get("/api/v1/daily_traffic").status_code == 503
    assert app.get("/audit").status_code == 200
    assert not snapshot_path(cfg.data_dir).exists()


def test_the_first_pages_are_drawn_once_per_published_snapshot(views_copy):
    cfg, _ = views_copy
    web = client(cfg)
    state = web.app.state
    drawn = state.warmer.warm_once()
    assert drawn >= 1  # the default range and the quick ranges (here they coincide)
    assert state.warmer.warm_once() == 0  # once per snapshot
    hits = state.cache.hits
    page = web.get("/")
    assert page.status_code == 200 and "<svg" in page.text
    links = re.findall(r'href="(/\?from=[^"]+)"', page.text)
    assert len(links) == 4
    for link in links:
        assert web.get(link.replace("&amp;", "&")).status_code == 200
    assert state.cache.hits == hits + 1 + len(links)  # every one came from the cache
    # a page drawn ahead is the page a request would draw (bar the time it was drawn)
    fresh = client(cfg).get("/").text
    def shown(html: str) -> list[str]:  # the text a reader sees, without the drawing time
        words = re.sub(r"<[^>]*>", " ", html).split()
        return [w for w in words if not re.fullmatch(r"\d\d:\d\d(:\d\d)?.*|UTC", w)]

    assert shown(fresh) == shown(page.text) and len(shown(fresh)) > 100
    # a new snapshot is drawn again
    con = warehouse.connect(cfg.data_dir, temp_dir=raw.temp_root(cfg.data_dir))
    publish(cfg, con)
    con.close()
    assert state.warmer.warm_once() == drawn


def test_the_warmer_runs_with_the_server_and_stops_with_it(views_copy):
    cfg, _ = views_copy
    app = create_app(cfg)
    app.state.warmer.interval = 0.05
    with TestClient(app, base_url=BASE) as web:
        for _ in range(600):  # a bounded wait for the thread, not a timing
            if app.state.warmer.warmed is not None:
                break
            app.state.warmer._stop.wait(0.05)
        assert app.state.warmer.warmed is not None
        assert web.get("/").status_code == 200
    assert not app.state.warmer._thread.is_alive()


def test_a_failure_while_drawing_ahead_is_named_not_quoted_and_serving_goes_on(views_copy, caplog):
    from pipelines.serve import Warmer

    cfg, _ = views_copy
    web = client(cfg)

    def broken(cur, period, site):
        raise KeyError("198.51.100.7")  # an error quoting a value must not be logged whole

    warmer = Warmer(web.app.state.snapshot, web.app.state.cache, broken, interval=0.01)
    with caplog.at_level("WARNING", logger="pipelines.serve"):
        warmer._run()  # returns after the failure instead of looping
    assert "Drawing the dashboard ahead failed (KeyError)" in caplog.text
    assert "198.51.100.7" not in caplog.text
    assert web.get("/").status_code == 200


# --------------------------------------------------------------------------- chart workers

def _page_specs(cfg) -> list[dict]:
    from pipelines import charts, views

    con = warehouse.connect(cfg.data_dir, read_only=True)
    try:
        data = views.collect(con, views.resolve_period(con, None, None))
    finally:
        con.close()
    return list(charts.chart_specs(data).values())


def test_chart_workers_draw_what_the_server_process_draws(views_warehouse):
    """Real worker processes (spawned), the same SVG as drawn here, in order."""
    from pipelines import charts
    from pipelines.serve import ChartWorkers

    cfg, _ = views_warehouse
    specs = _page_specs(cfg)
    workers = ChartWorkers(2)
    workers.start()
    try:
        pids = {p.pid for p in __import__("multiprocessing").active_children()}
        assert len(pids) >= 2  # the warm-up started one process per worker
        drawn = workers.render_many(specs)
        assert len(drawn) == len(specs) == 7
        # the same charts; vl-convert numbers clip paths per process, which charts.named
        # scopes (a page's ids are then unique whichever process drew a chart)
        names = [f"c{i}" for i in range(len(specs))]
        scoped = charts.named(dict.fromkeys(names), drawn)
        assert scoped == charts.named(dict.fromkeys(names), charts.render_each(specs))
        # each process numbers ids from 1 (which process drew which chart varies): scoped
        # by chart, a page's ids are unique
        ids = [i for svg in scoped.values() for i in re.findall(r'\bid="([^"]+)"', svg)]
        assert ids and len(ids) == len(set(ids))
    finally:
        workers.close()
    assert workers.pool is None


def test_a_dead_chart_worker_falls_back_to_the_server_process(views_warehouse, caplog):
    import multiprocessing
    import os
    import signal

    from pipelines import charts
    from pipelines.serve import ChartWorkers

    cfg, _ = views_warehouse
    specs = _page_specs(cfg)
    workers = ChartWorkers(1)
    workers.start()
    try:
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
        with caplog.at_level("WARNING", logger="pipelines.serve"):
            names = [f"c{i}" for i in range(len(specs))]
            drawn = charts.named(dict.fromkeys(names), workers.render_many(specs))
            assert drawn == charts.named(dict.fromkeys(names), charts.render_each(specs))
            assert workers.pool is None  # from now on: the server process draws
            assert workers.render_many(specs[:1]) != []
        assert [r.getMessage() for r in caplog.records] == [
            "A chart worker process stopped; the dashboard's charts are drawn in the server "
            "process from now on."]
    finally:
        workers.close()


def test_serve_chart_workers_option_defaults_to_the_module_default():
    from click.testing import CliRunner

    from pipelines.cli import cli
    from pipelines.serve import DEFAULT_CHART_WORKERS

    option = next(p for p in cli.commands["serve"].params if p.name == "chart_workers")
    assert option.default == DEFAULT_CHART_WORKERS
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--chart-workers" in result.output

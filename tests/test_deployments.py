"""Deployments: prefect.yaml, `weblog schedule --check`, and a real `prefect server start`.

The real-server test is the one place schedules can be seen working: Prefect's temporary
server never runs schedules. It starts a server on loopback with a temporary PREFECT_HOME,
deploys prefect.yaml with the Prefect CLI, checks the `nightly` deployment's cron and time
zone, then serves the same deployments with `weblog schedule` and runs `purge-only` through
that process.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flows.deployments import DEPLOYMENTS, NIGHTLY_CRON, WORK_POOL, check_prefect_yaml
from pipelines.cli import cli

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PREFECT_YAML = REPO / "prefect.yaml"
EXAMPLE_TZ = tomllib.loads((REPO / "weblog.example.toml").read_text())["timezone"]


def test_prefect_yaml_matches_the_flows_and_the_example_config():
    doc = yaml.safe_load(PREFECT_YAML.read_text())
    found = {d["name"]: d for d in doc["deployments"]}
    assert set(found) == set(DEPLOYMENTS)
    for name, spec in DEPLOYMENTS.items():
        assert found[name]["entrypoint"] == spec["entrypoint"]
        assert found[name]["work_pool"]["name"] == WORK_POOL
        path, func = spec["entrypoint"].split(":")
        assert f"def {func}(" in (REPO / path).read_text()
    assert found["nightly"]["schedules"] == [{"cron": NIGHTLY_CRON, "timezone": EXAMPLE_TZ}]
    assert "schedules" not in found["purge-only"]
    assert EXAMPLE_TZ == "Asia/Tokyo"
    assert check_prefect_yaml(PREFECT_YAML, EXAMPLE_TZ) == []


@pytest.mark.parametrize("change, expected", [
    (("Asia/Tokyo", "Asia/Tokio"), "'Asia/Tokio' is not an IANA time zone name"),
    (("Asia/Tokyo", "Europe/Berlin"),
     "scheduled in Europe/Berlin, but the site time zone is Asia/Tokyo"),
    (("        timezone: Asia/Tokyo", "        # timezone: Asia/Tokyo"),
     "a schedule without timezone runs in UTC"),
    (('"30 2 * * *"', '"30 26 * * *"'), "is not a valid cron expression"),
    (("flows/nightly.py:nightly", "flows/nightly.py:nighty"), "must have entrypoint"),
])
def test_check_finds_schedule_mistakes(tmp_path, change, expected):
    text = PREFECT_YAML.read_text()
    assert change[0] in text
    bad = tmp_path / "prefect.yaml"
    bad.write_text(text.replace(change[0], change[1]))
    problems = check_prefect_yaml(bad, "Asia/Tokyo")
    assert len(problems) == 1 and expected in problems[0]


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe", "cannot be read as YAML (UnicodeDecodeError)"),
    (b"just a string\n", "has no 'deployments' list"),
    (b"- a\n- list\n", "has no 'deployments' list"),
    (b"deployments: 3\n", "has no 'deployments' list"),
])
def test_check_of_a_file_that_is_no_prefect_yaml_is_one_sentence(tmp_path, content, expected):
    bad = tmp_path / "prefect.yaml"
    bad.write_bytes(content)
    problems = check_prefect_yaml(bad, "Asia/Tokyo")
    assert len(problems) == 1 and expected in problems[0]


def test_check_of_a_schedule_that_is_no_mapping(tmp_path):
    bad = tmp_path / "prefect.yaml"
    bad.write_text(PREFECT_YAML.read_text().replace(
        "    schedules:\n", "    schedules:\n      - 3\n", 1))
    assert any("a schedule is not a mapping" in p for p in check_prefect_yaml(bad, "Asia/Tokyo"))


def test_schedule_check_command(tmp_path):
    config = tmp_path / "weblog.toml"
    config.write_text('timezone = "Asia/Tokyo"\n')
    ok = CliRunner().invoke(cli, ["--config", str(config), "schedule", "--check",
                                  str(PREFECT_YAML)])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = tmp_path / "prefect.yaml"
    bad.write_text(PREFECT_YAML.read_text().replace("Asia/Tokyo", "Asia/Tokio"))
    result = CliRunner().invoke(cli, ["--config", str(config), "schedule", "--check", str(bad)])
    assert result.exit_code == 2
    assert "weblog: error:" in result.output and "Asia/Tokio" in result.output
    assert "Traceback" not in result.output


def test_schedule_refuses_the_temporary_server(tmp_path, monkeypatch):
    """Schedules never run on Prefect's temporary server: say so instead of serving."""
    config = tmp_path / "weblog.toml"
    config.write_text('timezone = "Asia/Tokyo"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    result = subprocess.run([str(BIN / "weblog"), "--config", str(config), "schedule"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "needs a Prefect server" in result.stderr


@pytest.mark.parametrize("url, why", [("http://127.0.0.1:9/api", "ConnectError"),
                                      ("notaurl", "UnsupportedProtocol")])
@pytest.mark.parametrize("command", [["schedule"], ["nightly", "--as-of", "2026-11-15"]])
def test_a_prefect_api_url_nothing_answers_is_one_sentence(tmp_path, url, why, command):
    """A wrong PREFECT_API_URL gave three tracebacks from Prefect's workers."""
    config = tmp_path / "weblog.toml"
    config.write_text('timezone = "Asia/Tokyo"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_API_URL=url)
    result = subprocess.run([str(BIN / "weblog"), "--config", str(config), *command],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"weblog: error: PREFECT_API_URL {url} does not answer ({why}): "
                             "start that Prefect server, or unset PREFECT_API_URL to run on "
                             "a temporary local one.\n")


def test_an_empty_prefect_api_url_means_unset(tmp_path, monkeypatch):
    from flows.launch import prepare_environment

    monkeypatch.setenv("PREFECT_API_URL", " ")
    # what prepare_environment sets, restored after the test
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    prepare_environment(tmp_path / "data")
    assert "PREFECT_API_URL" not in os.environ


# --------------------------------------------------------------------------- real server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _deployment(api: str, name: str):
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api) as client:
        return client.read_deployment_by_name(name)


@pytest.mark.slow
def test_real_server_deploy_and_serve(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    served = None
    try:
        _wait_healthy(api, server)
        client_env = {**env, "PREFECT_API_URL": api}

        def prefect(*args: str) -> str:
            done = subprocess.run([str(BIN / "prefect"), *args], cwd=REPO, env=client_env,
                                  capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        # 1. the README's commands: a process work pool, then `prefect deploy --all`
        prefect("work-pool", "create", WORK_POOL, "--type", "process")
        prefect("--no-prompt", "deploy", "--all")
        nightly = _deployment(api, "nightly/nightly")
        assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == \
            [("30 2 * * *", "Asia/Tokyo")]
        assert nightly.parameters == {"config_file": "weblog.toml"}
        assert nightly.work_pool_name == WORK_POOL
        assert nightly.global_concurrency_limit.limit == 1
        purge = _deployment(api, "purge-expired/purge-only")
        assert purge.schedules == [] and purge.parameters["dry_run"] is False
        prefect("deployment", "delete", "nightly/nightly")
        prefect("deployment", "delete", "purge-expired/purge-only")

        # 2. the alternative: `weblog schedule` serves both from one process
        site = tmp_path / "site"
        site.mkdir()
        shutil.copy(REPO / "weblog.example.toml", site / "weblog.toml")
        served = subprocess.Popen([str(BIN / "weblog"), "schedule"], cwd=site, env=client_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                nightly = _deployment(api, "nightly/nightly")
                _deployment(api, "purge-expired/purge-only")
                break
            except Exception:
                assert served.poll() is None and time.monotonic() < deadline
                time.sleep(1)
        assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == \
            [("30 2 * * *", "Asia/Tokyo")]
        assert nightly.parameters["config_file"] == str(site / "weblog.toml")
        run = prefect("deployment", "run", "purge-expired/purge-only", "--watch",
                      "--watch-timeout", "150")
        assert "Completed" in run
    finally:
        if served is not None:
            _stop(served)
        _stop(server)

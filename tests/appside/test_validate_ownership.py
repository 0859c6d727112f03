"""``workflow-studio compute validate-ownership`` end to end.

A real gunicorn worker (with the ``examples/hello`` deployment active) and a real threaded
app server (a tiny Flask app with the extension); the app's environment is set per scenario.
Each misconfiguration must fail with the runbook's words, never with a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from tests.appside.conftest import AppServer
from tests.conftest import ADMIN_KEY
from workflow_studio.builder.project import build_project
from workflow_studio.cli import cli
from workflow_studio.client import ComputeClient
from workflow_studio.compute.errors import runbook_action
from workflow_studio.integrations.diagnostics import REMOTE_WORLD
from workflow_studio.worker import WorkerServer, start_compute_worker_server

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"
APP_KEY = "wsk_test_app_key_trigger_and_read"
READER_KEY = "wsk_test_reader_key_runs_read_only"
KEYS = [{"key": ADMIN_KEY, "scopes": ["admin"], "name": "ops"},
        {"key": APP_KEY, "scopes": ["trigger:write", "runs:read"], "name": "web-app"},
        {"key": READER_KEY, "scopes": ["runs:read"], "name": "reader"}]
CALLBACK_ACTION = "Route queue callbacks to worker and run validation again."
WORLD_ACTION = "Set WORKFLOW_TARGET_WORLD=workflow-studio/world-remote"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("WORKFLOW_") or k.startswith("WORKFLOW_TEST_")}


@contextmanager
def hello_worker(root: Path) -> Iterator[WorkerServer]:
    """A worker with examples/hello built, uploaded and activated (and these keys)."""
    server = start_compute_worker_server(
        sqlite_path=str(root / "worker.db"), artifact_dir=str(root / "artifacts"),
        seed_api_keys=KEYS, log_path=str(root / "gunicorn.log"), env=_clean_env())
    try:
        project = root / "hello"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
            ".workflow-studio", "__pycache__"))
        built = build_project(str(project / "workflow_config.py"), project / "out")
        remote = ComputeClient(server.url, ADMIN_KEY)
        created = remote.create_deployment(built.manifest_path, built.artifact_path)
        remote.activate_deployment(created["id"])
        yield server
    finally:
        server.stop(10)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerServer]:
    """One worker for the module."""
    with hello_worker(tmp_path_factory.mktemp("deployed")) as server:
        yield server


def configure_app(monkeypatch: pytest.MonkeyPatch, worker_url: str, **overrides: str) -> None:
    """The app server's environment (it runs in this process and reads it live)."""
    env = {"WORKFLOW_TARGET_WORLD": REMOTE_WORLD, "WORKFLOW_COMPUTE_BASE_URL": worker_url,
           "WORKFLOW_COMPUTE_API_KEY": APP_KEY, **overrides}
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


def validate(url: str, key: str, *extra: str) -> tuple[int, str]:
    """Run the command in-process; return (exit status, output)."""
    result = CliRunner().invoke(cli, ["compute", "validate-ownership", "--url", url,
                                      "--api-key", key, *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def rows(url: str, key: str, *extra: str) -> dict[str, dict[str, Any]]:
    status, output = validate(url, key, "--json", *extra)
    assert status == 0, output
    return {c["check"]: c for c in json.loads(output)["checks"]}


def failed(checks: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, c in checks.items() if c["status"] == "fail"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_correctly_configured_app_passes(deployed: WorkerServer, app_server: AppServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    configure_app(monkeypatch, deployed.url)
    status, output = validate(deployed.url, APP_KEY, "--strict", "--app-url", app_server.url)
    assert status == 0, output
    assert "ownership status: pass" in output
    for header in ("CHECK", "STATUS", "DETAIL", "ACTION"):
        assert header in output
    checks = rows(deployed.url, APP_KEY, "--strict", "--app-url", app_server.url)
    assert [c["status"] for c in checks.values()] == ["pass"] * len(checks)
    assert list(checks) == ["worker reachable", "api key valid", "api key scopes",
                            "active deployment", "app diagnostics", "app target world",
                            "app worker url", "app api key", "app local callbacks"]
    assert "version 1" in checks["active deployment"]["detail"]
    assert "key lacks deploy:read" in checks["active deployment"]["detail"]  # health fallback
    assert APP_KEY not in output


def test_console_command_with_admin_key(deployed: WorkerServer, app_server: AppServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed entry point, as a runbook script runs it."""
    configure_app(monkeypatch, deployed.url)
    done = subprocess.run(
        [sys.executable, "-m", "workflow_studio.cli", "compute", "validate-ownership",
         "--url", deployed.url, "--strict", "--app-url", app_server.url, "--json"],
        env={**_clean_env(), "WORKFLOW_COMPUTE_API_KEY": ADMIN_KEY},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "pass"
    checks = {c["check"]: c for c in report["checks"]}
    assert "greet" in checks["active deployment"]["detail"]
    assert "admin" in checks["api key scopes"]["detail"]


def test_without_app_url_the_app_check_is_skipped(deployed: WorkerServer) -> None:
    status, output = validate(deployed.url, APP_KEY, "--strict")
    assert status == 0, output
    checks = rows(deployed.url, APP_KEY)
    assert checks["app diagnostics"]["status"] == "skip"


def test_wrong_target_world_fails(deployed: WorkerServer, app_server: AppServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    configure_app(monkeypatch, deployed.url, WORKFLOW_TARGET_WORLD="")
    status, output = validate(deployed.url, APP_KEY, "--strict", "--app-url", app_server.url)
    assert status == 1
    assert "ownership status: fail (1 of 9 checks failed)" in output
    assert WORLD_ACTION in output
    lenient, _ = validate(deployed.url, APP_KEY, "--app-url", app_server.url)
    assert lenient == 0  # without --strict the failure is printed, not an exit status
    checks = rows(deployed.url, APP_KEY, "--app-url", app_server.url)
    assert failed(checks) == {"app target world"}
    assert "'local'" in checks["app target world"]["detail"]


def test_app_without_worker_url_or_key_fails(deployed: WorkerServer, app_server: AppServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    configure_app(monkeypatch, deployed.url, WORKFLOW_COMPUTE_BASE_URL="",
                  WORKFLOW_COMPUTE_API_KEY="")
    checks = rows(deployed.url, APP_KEY, "--app-url", app_server.url)
    assert failed(checks) == {"app worker url", "app api key"}
    assert "Set WORKFLOW_COMPUTE_BASE_URL" in checks["app worker url"]["action"]


def test_local_callback_hit_fails_until_reset(deployed: WorkerServer, app_server: AppServer,
                                              monkeypatch: pytest.MonkeyPatch,
                                              diagnostics_dir: Path, http: Any) -> None:
    configure_app(monkeypatch, deployed.url)
    hit = http.post(f"{app_server.url}/.well-known/workflow/v1/step", json={"runId": "x"})
    assert (hit.status_code, hit.json()["code"]) == (409, "unexpected_local_callback")
    http.post(f"{app_server.url}/.well-known/workflow/v1/webhook/tok_1", data=b"{}")

    status, output = validate(deployed.url, APP_KEY, "--strict", "--app-url", app_server.url)
    assert status == 1 and CALLBACK_ACTION in output
    checks = rows(deployed.url, APP_KEY, "--app-url", app_server.url)
    assert failed(checks) == {"app local callbacks"}
    detail = checks["app local callbacks"]["detail"]
    assert "2 unexpected local callback hit(s)" in detail and "reaches app-host routes" in detail
    assert checks["app local callbacks"]["action"] == CALLBACK_ACTION

    (diagnostics_dir / "unexpected_callbacks").unlink()  # routing fixed: clear the evidence
    assert validate(deployed.url, APP_KEY, "--strict", "--app-url", app_server.url)[0] == 0


def test_key_without_scope_fails(deployed: WorkerServer) -> None:
    checks = rows(deployed.url, READER_KEY)
    assert failed(checks) == {"api key scopes"}
    scope = checks["api key scopes"]
    assert "lacks trigger:write" in scope["detail"] and "runs:read" in scope["detail"]
    assert scope["action"] == runbook_action("missing_scope")
    assert validate(deployed.url, READER_KEY, "--strict")[0] == 1


def test_invalid_key_fails(deployed: WorkerServer) -> None:
    checks = rows(deployed.url, "wsk_this_key_does_not_exist")
    assert failed(checks) == {"api key valid"}
    assert "401 unauthorized" in checks["api key valid"]["detail"]
    assert checks["api key valid"]["action"] == runbook_action("unauthorized")
    assert checks["active deployment"]["status"] == "skip"


@pytest.mark.both_backends
def test_no_active_deployment_fails(start_worker: Any) -> None:
    fresh = start_worker(seed_api_keys=KEYS)
    for key in (ADMIN_KEY, APP_KEY):  # deploy:read via the API; otherwise via /v1/health
        checks = rows(fresh.url, key)
        assert failed(checks) == {"active deployment"}, key
        assert checks["active deployment"]["action"] == runbook_action("no_active_deployment")
    status, output = validate(fresh.url, ADMIN_KEY, "--strict")
    assert status == 1 and "rollback --deployment-id" in output


def test_worker_down_is_a_failed_row_not_a_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "workflow_studio.cli", "compute", "validate-ownership",
               "--url", url, "--api-key", APP_KEY, "--timeout", "5"]
    strict = subprocess.run([*command, "--strict"], env=_clean_env(), capture_output=True,
                            text=True, timeout=60)
    assert strict.returncode == 1
    assert "Traceback" not in strict.stderr + strict.stdout
    assert "worker down" in strict.stdout and "workflow-studio worker start" in strict.stdout
    lenient = subprocess.run([*command, "--json"], env=_clean_env(), capture_output=True,
                             text=True, timeout=60)
    assert lenient.returncode == 0
    checks = {c["check"]: c for c in json.loads(lenient.stdout)["checks"]}
    assert checks["worker reachable"]["status"] == "fail"
    assert {checks[n]["status"] for n in ("api key valid", "api key scopes",
                                          "active deployment")} == {"skip"}


def test_app_without_the_routes_or_down_fails(deployed: WorkerServer, serve: Any) -> None:
    plain = Flask("plain")
    plain.get("/")(lambda: "no workflow routes here")
    unmounted = serve(plain)
    checks = rows(deployed.url, APP_KEY, "--app-url", unmounted.url)
    assert failed(checks) == {"app diagnostics"}
    assert "HTTP 404" in checks["app diagnostics"]["detail"]
    assert "WorkflowStudio(app)" in checks["app diagnostics"]["action"]

    down = rows(deployed.url, APP_KEY, "--app-url", f"http://127.0.0.1:{free_port()}")
    assert failed(down) == {"app diagnostics"}
    assert "cannot reach the app" in down["app diagnostics"]["detail"]


def test_missing_api_key_is_a_usage_error(deployed: WorkerServer) -> None:
    result = CliRunner().invoke(cli, ["compute", "validate-ownership", "--url", deployed.url])
    assert result.exit_code == 2 and "--api-key" in result.output

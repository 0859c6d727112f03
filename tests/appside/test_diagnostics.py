"""The framework-free core: what the app reports for each environment, and the routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflow_studio.integrations.diagnostics import (
    REMOTE_WORLD,
    AppDiagnostics,
    CallbackCounter,
)
from workflow_studio.integrations.endpoints import DIAGNOSTICS_PATH, Route, dispatch, match
from workflow_studio.version import __version__

SECRET = "wsk_super_secret_app_key"
REMOTE_ENV = {"WORKFLOW_TARGET_WORLD": REMOTE_WORLD,
              "WORKFLOW_COMPUTE_BASE_URL": "https://worker.internal:8080",
              "WORKFLOW_COMPUTE_API_KEY": SECRET}


def report(tmp_path: Path, env: dict[str, str]) -> dict:
    return AppDiagnostics(tmp_path / "d", environ=env).report().to_json()


def test_unset_target_world_is_local_and_ok(tmp_path: Path) -> None:
    data = report(tmp_path, {})
    assert data == {"status": "ok", "problems": [], "targetWorld": "local", "remote": False,
                    "workerUrlConfigured": False, "apiKeyPresent": False,
                    "unexpectedLocalCallbacks": 0, "lastUnexpectedLocalCallbackAt": None,
                    "packageVersion": __version__}


def test_remote_fully_configured_is_ok_and_reveals_no_secret(tmp_path: Path) -> None:
    data = report(tmp_path, REMOTE_ENV)
    assert data["status"] == "ok" and data["remote"] is True
    assert data["targetWorld"] == REMOTE_WORLD
    assert data["workerUrlConfigured"] is True and data["apiKeyPresent"] is True
    text = json.dumps(data)
    assert SECRET not in text and "worker.internal" not in text


@pytest.mark.parametrize(("missing", "problem"), [
    ("WORKFLOW_COMPUTE_BASE_URL", "WORKFLOW_COMPUTE_BASE_URL is not set"),
    ("WORKFLOW_COMPUTE_API_KEY", "WORKFLOW_COMPUTE_API_KEY is not set"),
])
def test_remote_without_url_or_key_fails(tmp_path: Path, missing: str, problem: str) -> None:
    env = {k: v for k, v in REMOTE_ENV.items() if k != missing}
    data = report(tmp_path, env)
    assert data["status"] == "fail"
    assert len(data["problems"]) == 1 and problem in data["problems"][0]


def test_blank_values_count_as_unset(tmp_path: Path) -> None:
    data = report(tmp_path, {**REMOTE_ENV, "WORKFLOW_COMPUTE_API_KEY": "  "})
    assert data["apiKeyPresent"] is False and data["status"] == "fail"
    assert report(tmp_path, {"WORKFLOW_TARGET_WORLD": " "})["targetWorld"] == "local"


def test_unknown_target_world_fails(tmp_path: Path) -> None:
    data = report(tmp_path, {"WORKFLOW_TARGET_WORLD": "workflow-studio/world-remot"})
    assert data["status"] == "fail" and data["remote"] is False
    assert "not a known world" in data["problems"][0]


def test_local_world_with_worker_settings_is_not_remote(tmp_path: Path) -> None:
    env = {k: v for k, v in REMOTE_ENV.items() if k != "WORKFLOW_TARGET_WORLD"}
    data = report(tmp_path, env)
    assert (data["targetWorld"], data["remote"], data["status"]) == ("local", False, "ok")


def test_environment_is_read_live(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    diagnostics = AppDiagnostics(tmp_path, environ=env)
    assert diagnostics.report().target_world == "local"
    env.update(REMOTE_ENV)
    assert diagnostics.report().remote is True


def test_directory_defaults_to_env_then_cwd(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert AppDiagnostics(environ={}).counter.directory == (
        tmp_path / ".workflow-studio" / "diagnostics")  # conftest chdirs into tmp_path
    monkeypatch.setenv("WORKFLOW_DIAGNOSTICS_DIR", "elsewhere")
    assert AppDiagnostics().counter.directory == tmp_path / "elsewhere"


def test_counter_counts_and_resets(tmp_path: Path) -> None:
    counter = CallbackCounter(tmp_path / "nested" / "dir")
    assert counter.count() == 0 and counter.last_hit_at() is None
    for _ in range(3):
        counter.record()
    assert counter.count() == 3 and counter.last_hit_at() is not None
    counter.reset()
    assert counter.count() == 0
    counter.reset()  # idempotent


def test_match() -> None:
    assert match(DIAGNOSTICS_PATH) is Route.DIAGNOSTICS
    assert match("/.well-known/workflow/v1/flow") is Route.FLOW
    assert match("/.well-known/workflow/v1/step") is Route.STEP
    assert match("/.well-known/workflow/v1/webhook/tok_123") is Route.WEBHOOK
    for other in ("/", "/.well-known/workflow/v1/webhook/", "/.well-known/workflow/v1/flows",
                  "/.well-known/workflow/v1/diagnostics/", "/x/.well-known/workflow/v1/flow"):
        assert match(other) is None, other


def test_remote_callbacks_are_counted_and_refused(tmp_path: Path) -> None:
    diagnostics = AppDiagnostics(tmp_path, environ=REMOTE_ENV)
    for path in ("/.well-known/workflow/v1/flow", "/.well-known/workflow/v1/step",
                 "/.well-known/workflow/v1/webhook/abc"):
        reply = dispatch(diagnostics, "POST", path)
        assert reply is not None and reply.status == 409
        assert reply.payload["code"] == "unexpected_local_callback"
        assert "Route queue callbacks to the worker" in reply.payload["message"]
    data = diagnostics.report().to_json()
    assert data["unexpectedLocalCallbacks"] == 3 and data["status"] == "fail"
    assert "3 unexpected local callback hit(s)" in data["problems"][0]


def test_local_callbacks_are_404_and_not_counted(tmp_path: Path) -> None:
    diagnostics = AppDiagnostics(tmp_path, environ={})
    reply = dispatch(diagnostics, "POST", "/.well-known/workflow/v1/step")
    assert reply is not None and reply.status == 404 and reply.payload["code"] == "not_found"
    assert diagnostics.counter.count() == 0


def test_diagnostics_route_methods(tmp_path: Path) -> None:
    diagnostics = AppDiagnostics(tmp_path, environ=REMOTE_ENV)
    get = dispatch(diagnostics, "GET", DIAGNOSTICS_PATH)
    head = dispatch(diagnostics, "HEAD", DIAGNOSTICS_PATH)
    post = dispatch(diagnostics, "POST", DIAGNOSTICS_PATH)
    assert get is not None and head is not None and post is not None
    assert get.status == 200 and json.loads(get.body)["targetWorld"] == REMOTE_WORLD
    assert head.status == 200 and head.body == b""
    assert dict(head.headers)["Content-Length"] == str(len(get.body))
    assert post.status == 405 and post.payload["code"] == "method_not_allowed"
    assert dispatch(diagnostics, "GET", "/elsewhere") is None


def test_unwritable_counter_still_refuses_and_reports(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    diagnostics = AppDiagnostics(blocker / "d", environ=REMOTE_ENV)
    reply = dispatch(diagnostics, "POST", "/.well-known/workflow/v1/flow")
    assert reply is not None and reply.status == 409
    data = diagnostics.report().to_json()
    assert data["status"] == "fail" and "could not be counted" in data["problems"][0]
    assert "cannot count an unexpected local callback" in caplog.text

"""Every framework helper mounts the same routes with the same answers.

Flask through its test client, WSGI through werkzeug's test client, ASGI through a tiny
in-test harness driven by ``asyncio.run``, and Django (when installed) through its client.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from workflow_studio.integrations.asgi import WorkflowStudioASGIMiddleware
from workflow_studio.integrations.diagnostics import REMOTE_WORLD
from workflow_studio.integrations.flask import EXTENSION_KEY, WorkflowStudio
from workflow_studio.integrations.wsgi import WorkflowStudioMiddleware

DIAG = "/.well-known/workflow/v1/diagnostics"
FLOW = "/.well-known/workflow/v1/flow"
STEP = "/.well-known/workflow/v1/step"
HOOK = "/.well-known/workflow/v1/webhook/tok_abc/def"


@pytest.fixture
def remote_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOW_TARGET_WORLD", REMOTE_WORLD)
    monkeypatch.setenv("WORKFLOW_COMPUTE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WORKFLOW_COMPUTE_API_KEY", "wsk_app_key")


# Flask -------------------------------------------------------------------------------------
def make_flask(directory: Path, factory: bool = False) -> Flask:
    app = Flask("tiny")
    app.get("/")(lambda: "home")
    if factory:
        extension = WorkflowStudio()
        app.config["WORKFLOW_DIAGNOSTICS_DIR"] = str(directory)
        extension.init_app(app)
    else:
        WorkflowStudio(app, directory=directory)
    return app


@pytest.mark.parametrize("factory", [False, True])
def test_flask_remote(tmp_path: Path, remote_env: None, factory: bool) -> None:
    app = make_flask(tmp_path / "d", factory)
    client = app.test_client()
    assert client.get("/").text == "home"
    assert client.get(DIAG).json["unexpectedLocalCallbacks"] == 0
    for path in (FLOW, STEP, HOOK):
        response = client.post(path, json={"x": 1})
        assert response.status_code == 409, path
        assert response.json["code"] == "unexpected_local_callback"
    assert client.put(FLOW).status_code == 409
    data = client.get(DIAG).json
    assert data["unexpectedLocalCallbacks"] == 4 and data["status"] == "fail"
    assert app.extensions[EXTENSION_KEY].counter.directory == tmp_path / "d"
    head = client.head(DIAG)
    assert head.status_code == 200 and head.data == b""
    assert client.post(DIAG).status_code == 405


def test_flask_local(tmp_path: Path) -> None:
    client = make_flask(tmp_path / "d").test_client()
    response = client.post(STEP)
    assert response.status_code == 404 and response.json["code"] == "not_found"
    data = client.get(DIAG).json
    assert (data["targetWorld"], data["unexpectedLocalCallbacks"]) == ("local", 0)


def test_flask_one_extension_many_apps(tmp_path: Path, remote_env: None) -> None:
    extension = WorkflowStudio()
    first, second = Flask("first"), Flask("second")
    first.config["WORKFLOW_DIAGNOSTICS_DIR"] = str(tmp_path / "a")
    second.config["WORKFLOW_DIAGNOSTICS_DIR"] = str(tmp_path / "b")
    extension.init_app(first)
    extension.init_app(second)
    assert first.test_client().post(FLOW).status_code == 409
    assert first.test_client().get(DIAG).json["unexpectedLocalCallbacks"] == 1
    assert second.test_client().get(DIAG).json["unexpectedLocalCallbacks"] == 0


# WSGI --------------------------------------------------------------------------------------
def inner_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"inner {environ['PATH_INFO']}".encode()]


def test_wsgi_middleware(tmp_path: Path, remote_env: None) -> None:
    client = Client(WorkflowStudioMiddleware(inner_wsgi, directory=tmp_path))
    assert client.get("/anything").text == "inner /anything"
    assert client.get("/.well-known/workflow/v1/other").text.startswith("inner")
    response = client.post(HOOK, data=b"{}")
    assert response.status_code == 409 and response.json["code"] == "unexpected_local_callback"
    assert response.headers["Content-Type"] == "application/json"
    data = client.get(DIAG).json
    assert data["unexpectedLocalCallbacks"] == 1 and data["remote"] is True


def test_wsgi_middleware_local(tmp_path: Path) -> None:
    client = Client(WorkflowStudioMiddleware(inner_wsgi, directory=tmp_path))
    assert client.post(FLOW).status_code == 404
    assert client.get(DIAG).json["unexpectedLocalCallbacks"] == 0


# ASGI --------------------------------------------------------------------------------------
async def inner_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"inner {scope['path']}".encode()})


def call_asgi(app: Any, method: str, path: str, scope_type: str = "http") -> dict[str, Any]:
    """Drive one ASGI request; return status, headers and body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if scope_type == "lifespan":
            return {"type": "lifespan.startup"}
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": scope_type, "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": []}
    asyncio.run(app(scope, receive, send))
    if scope_type == "lifespan":
        return {"messages": sent}
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return {"status": start["status"], "headers": dict(start["headers"]), "body": body}


def test_asgi_middleware(tmp_path: Path, remote_env: None) -> None:
    app = WorkflowStudioASGIMiddleware(inner_asgi, directory=tmp_path)
    assert call_asgi(app, "GET", "/x")["body"] == b"inner /x"
    refused = call_asgi(app, "POST", STEP)
    assert refused["status"] == 409
    assert refused["headers"][b"content-type"] == b"application/json"
    assert json.loads(refused["body"])["code"] == "unexpected_local_callback"
    data = json.loads(call_asgi(app, "GET", DIAG)["body"])
    assert data["unexpectedLocalCallbacks"] == 1 and data["targetWorld"] == REMOTE_WORLD
    assert call_asgi(app, "HEAD", DIAG)["body"] == b""
    lifespan = call_asgi(app, "GET", "", scope_type="lifespan")
    assert lifespan["messages"] == [{"type": "lifespan.startup.complete"}]


def test_asgi_middleware_local(tmp_path: Path) -> None:
    app = WorkflowStudioASGIMiddleware(inner_asgi, directory=tmp_path)
    assert call_asgi(app, "POST", FLOW)["status"] == 404
    assert json.loads(call_asgi(app, "GET", DIAG)["body"])["unexpectedLocalCallbacks"] == 0


def test_wsgi_middleware_served_for_real_keeps_alive(tmp_path: Path, remote_env: None,
                                                     serve: Any, http: Any) -> None:
    """Refused callbacks with bodies, then an ordinary request, on one kept-alive connection."""
    server = serve(WorkflowStudioMiddleware(inner_wsgi, directory=tmp_path))
    for _ in range(3):
        refused = http.post(server.url + STEP, data=b"x" * 10_000)
        assert refused.status_code == 409
    assert http.get(server.url + "/after").text == "inner /after"
    assert http.get(server.url + DIAG).json()["unexpectedLocalCallbacks"] == 3

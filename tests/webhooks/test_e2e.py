"""On a real gunicorn worker: ``create_webhook()`` URLs resume runs, and a signed provider
delivery reaches an ``on_webhook`` handler that starts a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine.e2e_project import wait_for
from tests.webhooks.signing import SECRETS, sign
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]

FLOWS = '''
import workflow_studio as ws


@ws.step
def publish(url):
    return url


@ws.step
def record(value):
    return value


@ws.workflow
def inbox(label):
    hook = ws.create_webhook(metadata={"label": label})
    publish(hook.url)
    return {"label": label, "payload": hook.wait()}


@ws.workflow
def on_push(repo):
    return {"pushed": record(repo)}
'''

HANDLER = '''
def on_webhook(provider, event):
    data = event.json or {}
    run = event.start("on_push", data["repository"])
    return {"run": run["id"]}
'''


def deploy(remote: ComputeClient, root: Path) -> None:
    config = write_project(root, {"hook_app/__init__.py": "", "hook_app/flows.py": FLOWS},
                           ["hook_app.flows"])
    result = build_project(str(config), root / "out")
    deployment = remote.create_deployment(result.manifest_path, result.artifact_path)
    remote.activate_deployment(deployment["id"])


def finished(remote: ComputeClient, run_id: str) -> dict[str, Any]:
    return wait_for(lambda: (lambda r: r if r["status"] in ("completed", "failed") else None)(
        remote.get_run(run_id, wait=5)))


def hook_path(remote: ComputeClient, run_id: str) -> str:
    def published() -> str | None:
        steps = remote.run_steps(run_id)["data"]
        done = [s for s in steps if s["stepName"] == "publish" and s["status"] == "completed"]
        return done[0]["output"] if done else None
    url = wait_for(published)
    return urlsplit(url).path


def test_create_webhook_url_resumes_the_run(tmp_path: Path, start_worker: Any,
                                            http: requests.Session) -> None:
    worker = start_worker(public_base_url="https://hooks.example.com")
    remote = ComputeClient(worker.url, ADMIN_KEY)
    deploy(remote, tmp_path / "project")

    json_run = remote.trigger_run("inbox", ["json"])["id"]
    text_run = remote.trigger_run("inbox", ["text"])["id"]
    json_path = hook_path(remote, json_run)
    text_path = hook_path(remote, text_run)
    assert json_path.startswith("/v1/hooks/") and json_path != text_path
    steps = remote.run_steps(json_run)["data"]
    assert steps[0]["output"].startswith("https://hooks.example.com/v1/hooks/")

    signed = json_path.rsplit("/", 1)[1]
    tampered = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    forged = http.post(f"{worker.url}/v1/hooks/{tampered}", json={"x": 1})
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_signature")

    resumed = http.post(worker.url + json_path, json={"approved": True})  # no API key
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["runId"] == json_run
    assert finished(remote, json_run)["output"] == {"label": "json",
                                                     "payload": {"approved": True}}
    text = http.post(worker.url + text_path, data="plain words",
                     headers={"Content-Type": "text/plain"})
    assert text.status_code == 202
    assert finished(remote, text_run)["output"]["payload"] == "plain words"
    late = http.post(worker.url + json_path, json={"again": True})
    assert (late.status_code, late.json()["code"]) == (404, "not_found")


def test_provider_delivery_starts_a_run_through_the_handler(
        tmp_path: Path, start_worker: Any, http: requests.Session) -> None:
    (tmp_path / "wh_handler.py").write_text(HANDLER, encoding="utf-8")  # cwd of the worker
    worker = start_worker(on_webhook="wh_handler:on_webhook",
                          webhooks={"github": {"secret": SECRETS["github"]}})
    remote = ComputeClient(worker.url, ADMIN_KEY)
    deploy(remote, tmp_path / "project")
    body = json.dumps({"repository": "acme/site"}).encode()
    headers = {**sign("github", body, "gh-delivery-1"), "Content-Type": "application/json"}
    first = http.post(f"{worker.url}/v1/webhooks/github", data=body, headers=headers)
    assert first.status_code == 200, first.text
    (run_id,) = first.json()["runs"]
    run = finished(remote, run_id)
    assert run["triggerType"] == "webhook" and run["output"] == {"pushed": "acme/site"}
    again = http.post(f"{worker.url}/v1/webhooks/github", data=body, headers=headers)
    assert again.json() == {"received": True, "duplicate": True, "deliveryId": "gh-delivery-1"}
    listed = remote.list_runs(trigger_type="webhook")["data"]
    assert [r["id"] for r in listed] == [run_id]


SHIPPED_HANDLER = '''

def on_webhook(provider, event):
    run = event.start("on_push", (event.json or {})["repository"])
    return {"run": run["id"], "handler": VERSION}
'''


def deploy_with_handler(remote: ComputeClient, root: Path, version: str) -> None:
    flows = FLOWS + f"\nVERSION = {version!r}\n" + SHIPPED_HANDLER
    config = write_project(root, {"hook_app/__init__.py": "", "hook_app/flows.py": flows},
                           ["hook_app.flows"])
    result = build_project(str(config), root / "out")
    deployment = remote.create_deployment(result.manifest_path, result.artifact_path)
    remote.activate_deployment(deployment["id"])


def test_handler_shipped_in_the_active_deployment_follows_activation(
        tmp_path: Path, start_worker: Any, http: requests.Session) -> None:
    # hook_app is not importable from the worker's own environment: only the deployment has it.
    worker = start_worker(on_webhook="hook_app.flows:on_webhook",
                          webhooks={"github": {"secret": SECRETS["github"]}})
    remote = ComputeClient(worker.url, ADMIN_KEY)
    deploy_with_handler(remote, tmp_path / "v1", "v1")

    def deliver(delivery_id: str) -> dict[str, Any]:
        body = json.dumps({"repository": "acme/site", "delivery": delivery_id}).encode()
        headers = {**sign("github", body, delivery_id), "Content-Type": "application/json"}
        response = http.post(f"{worker.url}/v1/webhooks/github", data=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    first = deliver("d-1")
    assert first["result"]["handler"] == "v1"
    assert finished(remote, first["runs"][0])["output"] == {"pushed": "acme/site"}
    deploy_with_handler(remote, tmp_path / "v2", "v2")
    assert deliver("d-2")["result"]["handler"] == "v2"

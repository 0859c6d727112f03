"""``POST /v1/webhooks/<provider>`` through the Flask client: each provider's documented
signing scheme, bad/expired/replayed deliveries, and the ``on_webhook`` handler's API."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.webhooks.signing import SECRETS, sign
from tests.world_proxy.conftest import record_deployment
from workflow_studio.compute import payloads
from workflow_studio.config.settings import load_settings
from workflow_studio.storage.world import runs
from workflow_studio.worker import create_app
from workflow_studio.worker.context import EXTENSION

pytestmark = pytest.mark.both_backends
PROVIDERS = ["github", "stripe", "standard", "hmac"]
calls: list[tuple[str, Any]] = []


def on_webhook(provider: str, event: Any) -> Any:
    calls.append((provider, event.json))
    data = event.json or {}
    if data.get("explode"):
        raise RuntimeError("handler bug")
    if data.get("resume"):
        return event.resume_hook(data["resume"], data.get("payload"))
    run = event.start("checkout", data.get("order"), source=provider)
    return {"run": run["id"]}


@pytest.fixture
def hooked(make_settings: Any) -> Any:
    calls.clear()
    app = create_app(make_settings(on_webhook=on_webhook,
                                   webhooks={p: {"secret": s} for p, s in SECRETS.items()}))
    record_deployment(app)
    return app


def deliver(client: Any, provider: str, payload: Any, delivery_id: str, **kw: Any) -> Any:
    body = json.dumps(payload).encode()
    headers = {**sign(provider, body, delivery_id, **kw), "Content-Type": "application/json"}
    return client.post(f"/v1/webhooks/{provider}", data=body, headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_signed_delivery_starts_a_run_once(hooked: Any, provider: str) -> None:
    client = hooked.test_client()
    payload = {"id": f"evt_{provider}", "order": 42}
    response = deliver(client, provider, payload, f"d-{provider}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["duplicate"] is False and body["handled"] is True
    assert body["deliveryId"] == (f"evt_{provider}" if provider == "stripe" else f"d-{provider}")
    (run_id,) = body["runs"]
    assert body["result"] == {"run": run_id}
    conn = hooked.extensions[EXTENSION].db.connection()
    run = runs.get(conn, run_id)
    assert run is not None and run["trigger_type"] == "webhook"
    assert payloads.loads(run["input_json"]) == {"args": (42,), "kwargs": {"source": provider}}

    replay = deliver(client, provider, payload, f"d-{provider}")
    assert replay.status_code == 200
    assert replay.get_json()["duplicate"] is True
    assert len(calls) == 1  # the handler did not see the replay


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_signature_is_401(hooked: Any, provider: str) -> None:
    client = hooked.test_client()
    forged = deliver(client, provider, {"order": 1}, "d-1", secret="whsec_" + "A" * 32)
    assert (forged.status_code, forged.get_json()["code"]) == (401, "invalid_signature")
    body = b'{"order": 1}'
    tampered = client.post(f"/v1/webhooks/{provider}", data=body + b" ",
                           headers=sign(provider, body, "d-2"))
    assert tampered.status_code == 401
    unsigned = client.post(f"/v1/webhooks/{provider}", data=body)
    assert (unsigned.status_code, unsigned.get_json()["code"]) == (401, "invalid_signature")
    assert calls == []


@pytest.mark.parametrize("provider", ["stripe", "standard"])
def test_expired_timestamp_is_401(hooked: Any, provider: str) -> None:
    client = hooked.test_client()
    old = deliver(client, provider, {"order": 1}, "d-old", at=time.time() - 3600)
    assert (old.status_code, old.get_json()["code"]) == (401, "invalid_signature")
    assert "tolerance" in old.get_json()["message"]
    assert calls == []


def test_unknown_or_unconfigured_provider_is_404(make_settings: Any) -> None:
    app = create_app(make_settings(webhooks={"github": {"secret": "s"}}))
    client = app.test_client()
    for provider in ("gitlab", "stripe"):
        response = client.post(f"/v1/webhooks/{provider}", data=b"{}")
        assert (response.status_code, response.get_json()["code"]) == (404, "not_found")


def test_handler_failure_is_not_recorded(hooked: Any) -> None:
    client = hooked.test_client()
    failed = deliver(client, "hmac", {"explode": True}, "d-x")
    assert (failed.status_code, failed.get_json()["code"]) == (500, "webhook_handler_failed")
    retried = deliver(client, "hmac", {"explode": True}, "d-x")
    assert retried.status_code == 500 and len(calls) == 2  # not marked as seen


def test_handler_errors_roll_back_everything(make_settings: Any) -> None:
    calls.clear()
    app = create_app(make_settings(on_webhook=on_webhook,
                                   webhooks={"hmac": {"secret": SECRETS["hmac"]}}))
    client = app.test_client()
    response = deliver(client, "hmac", {"order": 1}, "d-none")
    assert (response.status_code, response.get_json()["code"]) == (409, "no_active_deployment")
    record_deployment(app)
    assert deliver(client, "hmac", {"order": 1}, "d-none").get_json()["duplicate"] is False


def test_handler_resumes_hooks(hooked: Any) -> None:
    client = hooked.test_client()
    missing = deliver(client, "github", {"resume": "nobody"}, "d-r1")
    assert missing.status_code == 200 and missing.get_json()["resumed"] == []
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    run_id = client.post("/v1/world/events/create", headers=auth, json={
        "eventType": "run_created", "eventData": {"workflowName": "checkout"}}
    ).get_json()["run"]["id"]
    client.post("/v1/world/events/create", headers=auth, json={
        "runId": run_id, "eventType": "hook_created",
        "eventData": {"token": "pr-7", "seq": 1}})
    resumed = deliver(client, "github", {"resume": "pr-7", "payload": {"merged": True}},
                      "d-r2")
    assert resumed.get_json()["resumed"] == [run_id]
    hook = client.get("/v1/world/hooks/by-token/pr-7", headers=auth).get_json()
    assert (hook["status"], hook["payload"]) == ("received", {"merged": True})


def test_without_a_handler_deliveries_are_still_deduplicated(make_settings: Any) -> None:
    app = create_app(make_settings(webhooks={"hmac": {"secret": SECRETS["hmac"]}}))
    client = app.test_client()
    first = deliver(client, "hmac", {"a": 1}, "d-1").get_json()
    assert (first["handled"], first["duplicate"]) == (False, False)
    assert deliver(client, "hmac", {"a": 1}, "d-1").get_json()["duplicate"] is True


def test_webhook_secrets_from_config_and_env() -> None:
    settings = load_settings(options={"webhooks": {"github": "from-options"}}, environ={
        "WORKFLOW_WEBHOOK_SECRET_STRIPE": "from-env"})
    assert settings.webhooks == {"github": {"secret": "from-options"}}
    env_only = load_settings(environ={"WORKFLOW_WEBHOOK_SECRET_STRIPE": "from-env",
                                      "WORKFLOW_SECRET_KEY": "k" * 20,
                                      "WORKFLOW_PUBLIC_BASE_URL": "https://w.example/"})
    assert env_only.webhooks == {"stripe": {"secret": "from-env"}}
    assert env_only.public_base_url == "https://w.example"
    from workflow_studio.config.settings import ConfigError, define_config
    with pytest.raises(ConfigError, match=r"worker\.webhooks\.gitlab: unknown webhook provider"):
        define_config(worker={"webhooks": {"gitlab": {"secret": "x"}}})
    with pytest.raises(ConfigError, match=r"worker\.secret_key"):
        define_config(worker={"secret_key": "short"})


@pytest.mark.parametrize("provider", ["github", "hmac"])
def test_a_captured_delivery_resent_with_a_new_id_is_a_replay(hooked: Any,
                                                              provider: str) -> None:
    # Their signatures cover the body but not the delivery id header (nor a timestamp).
    client = hooked.test_client()
    assert deliver(client, provider, {"order": 7}, "d-1").get_json()["duplicate"] is False
    resent = deliver(client, provider, {"order": 7}, "attacker-chosen-id")
    assert resent.get_json()["duplicate"] is True
    assert len(calls) == 1

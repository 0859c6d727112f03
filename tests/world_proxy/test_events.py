"""Event-sourcing semantics of ``POST /v1/world/events/create`` and the entity reads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.world_proxy.conftest import Proxy
from workflow_studio.compute.clock import now_ms

pytestmark = pytest.mark.both_backends


def types(proxy: Proxy, run_id: str) -> list[str]:
    body = proxy.post("/v1/world/events/list", {"runId": run_id, "limit": 1000}).get_json()
    return [e["eventType"] for e in body["data"]]


def test_run_lifecycle_and_terminal_states(proxy: Proxy, deployment: str) -> None:
    created = proxy.event(None, "run_created", workflowName="checkout",
                          input={"args": [42], "kwargs": {}})
    assert created.status_code == 201
    body = created.get_json()
    run_id = body["run"]["id"]
    assert body["event"]["eventType"] == "run_created"
    assert body["event"]["correlationId"] == run_id
    assert body["run"]["status"] == "pending" and body["run"]["deploymentId"] == deployment
    assert body["run"]["input"] == {"args": [42], "kwargs": {}}

    again = proxy.event(None, "run_created", workflowName="checkout")
    assert again.status_code == 201  # a new run id: a different correlation id
    duplicate = proxy.post("/v1/world/events/create", {
        "runId": run_id, "eventType": "run_created", "eventData": {"workflowName": "checkout"}})
    assert (duplicate.status_code, duplicate.get_json()["code"]) == (409, "conflict")

    first = proxy.event(run_id, "run_started")
    assert first.status_code == 201 and first.get_json()["run"]["status"] == "running"
    second = proxy.event(run_id, "run_started")  # idempotent: no second event
    assert second.status_code == 200 and second.get_json()["event"] is None
    assert types(proxy, run_id) == ["run_created", "run_started"]

    done = proxy.event(run_id, "run_completed", output={"ok": True})
    assert done.status_code == 201
    assert done.get_json()["run"]["status"] == "completed"
    assert proxy.get(f"/v1/world/runs/{run_id}").get_json()["output"] == {"ok": True}
    for event_type, data in (("run_failed", {"error": {"message": "x"}}), ("run_started", {}),
                             ("run_cancelled", {}), ("step_created", {"stepName": "s",
                                                                       "seq": 1})):
        late = proxy.event(run_id, event_type, **data)
        assert (late.status_code, late.get_json()["code"]) == (409, "run_terminal"), event_type
    assert types(proxy, run_id) == ["run_created", "run_started", "run_completed"]


def test_run_created_validation(proxy: Proxy, app: Any) -> None:
    unknown = proxy.event(None, "run_created", workflowName="nope")
    assert (unknown.status_code, unknown.get_json()["code"]) == (400, "unknown_workflow")
    missing = proxy.event(None, "run_created")
    assert missing.status_code == 400
    bad_type = proxy.event(None, "run_exploded")
    assert (bad_type.status_code, bad_type.get_json()["code"]) == (400, "invalid_request")
    no_run = proxy.event("wrun_01M7YC5AFEJPZ7PVC344DBV2CX", "run_started")
    assert (no_run.status_code, no_run.get_json()["code"]) == (404, "not_found")
    bad_id = proxy.event("nope", "run_started")
    assert (bad_id.status_code, bad_id.get_json()["code"]) == (400, "invalid_run_id")
    chosen = proxy.event("wrun_01M7YC5AFEJPZ7PVC344DBV2CX", "run_created",
                         workflowName="checkout")
    assert chosen.get_json()["run"]["id"] == "wrun_01M7YC5AFEJPZ7PVC344DBV2CX"


def test_fail_and_cancel(proxy: Proxy) -> None:
    failed = proxy.new_run()
    response = proxy.event(failed, "run_failed", error={"message": "boom"})
    assert response.get_json()["run"]["error"] == {"message": "boom"}
    assert proxy.event(failed, "run_failed").status_code == 409
    cancelled = proxy.new_run()
    assert proxy.event(cancelled, "run_cancelled").get_json()["run"]["status"] == "cancelled"
    no_error = proxy.event(proxy.new_run(), "run_failed")
    assert no_error.status_code == 400


def test_steps_retry_time_and_final_states(proxy: Proxy) -> None:
    run_id = proxy.new_run()
    proxy.event(run_id, "run_started")
    created = proxy.event(run_id, "step_created", stepName="charge", seq=1,
                          input={"args": [1], "kwargs": {}})
    assert created.status_code == 201
    step = created.get_json()["step"]
    assert (step["stepName"], step["status"], step["position"]) == ("charge", "pending", 1)
    duplicate = proxy.event(run_id, "step_created", stepName="charge", seq=1)
    assert (duplicate.status_code, duplicate.get_json()["code"]) == (409, "conflict")

    started = proxy.event(run_id, "step_started", step["id"])
    assert started.get_json()["step"]["attempt"] == 1
    retrying = proxy.event(run_id, "step_retrying", step["id"], error={"message": "later"},
                           retryAt=now_ms() + 60_000)
    assert retrying.get_json()["step"]["status"] == "retrying"
    early = proxy.event(run_id, "step_started", step["id"])
    assert (early.status_code, early.get_json()["code"]) == (425, "too_early")
    assert 1 <= int(early.headers["Retry-After"]) <= 60
    proxy.event(run_id, "step_retrying", step["id"], error={"message": "now"},
                retryAt=now_ms() - 1)
    assert proxy.event(run_id, "step_started", step["id"]).get_json()["step"]["attempt"] == 2
    completed = proxy.event(run_id, "step_completed", step["id"], output=7)
    assert completed.get_json()["step"]["output"] == 7
    for event_type in ("step_completed", "step_failed", "step_started", "step_retrying"):
        late = proxy.event(run_id, event_type, step["id"], error={"message": "x"})
        assert (late.status_code, late.get_json()["code"]) == (409, "conflict"), event_type
    other = proxy.new_run()
    wrong_run = proxy.event(other, "step_started", step["id"])
    assert wrong_run.status_code == 404

    fetched = proxy.get(f"/v1/world/steps/{step['id']}").get_json()
    assert fetched["status"] == "completed" and fetched["attempt"] == 2
    assert proxy.get("/v1/world/steps/step_nope").status_code == 404
    by_step = proxy.post("/v1/world/events/list-by-correlation",
                         {"correlationId": step["id"]}).get_json()
    assert [e["eventType"] for e in by_step["data"]] == [
        "step_created", "step_started", "step_retrying", "step_retrying", "step_started",
        "step_completed"]


def test_hooks_conflicts_and_disposal(proxy: Proxy) -> None:
    first, second = proxy.new_run(), proxy.new_run()
    hook = proxy.event(first, "hook_created", token="order-1", seq=1,
                       metadata={"k": 1}).get_json()["hook"]
    assert (hook["status"], hook["token"], hook["metadata"]) == ("pending", "order-1", {"k": 1})
    clash = proxy.event(second, "hook_created", token="order-1", seq=1)
    assert clash.status_code == 201
    assert clash.get_json()["hook"]["status"] == "conflict"
    assert [e["eventType"] for e in clash.get_json()["events"]] == ["hook_created",
                                                                   "hook_conflict"]
    assert proxy.event(second, "hook_conflict", token="x").status_code == 400
    live = proxy.get("/v1/world/hooks/by-token/order-1").get_json()
    assert live["id"] == hook["id"]

    received = proxy.event(first, "hook_received", hook["id"], payload={"approved": True})
    assert received.get_json()["hook"]["status"] == "received"
    assert received.get_json()["hook"]["payload"] == {"approved": True}
    again = proxy.event(first, "hook_received", hook["id"], payload=1)
    assert again.status_code == 409

    other = proxy.event(first, "hook_created", token="order-2", seq=2).get_json()["hook"]
    proxy.event(first, "run_completed", output=None)
    disposed = proxy.get(f"/v1/world/hooks/{other['id']}").get_json()
    assert disposed["disposed"] is True
    assert types(proxy, first)[-3:] == ["hook_disposed", "hook_disposed", "run_completed"]
    # The token is free again once its run ended.
    third = proxy.new_run()
    reused = proxy.event(third, "hook_created", token="order-2", seq=1).get_json()["hook"]
    assert reused["status"] == "pending"
    assert proxy.get("/v1/world/hooks/by-token/order-2").get_json()["id"] == reused["id"]
    assert proxy.get("/v1/world/hooks/by-token/never").status_code == 404
    assert proxy.get("/v1/world/hooks/hook_nope").status_code == 404

    hook_three = proxy.event(third, "hook_created", token="t3", seq=2).get_json()["hook"]
    dispose = proxy.event(third, "hook_disposed", hook_three["id"])
    assert dispose.get_json()["hook"]["disposed"] is True
    assert proxy.event(third, "hook_disposed", hook_three["id"]).status_code == 409
    assert proxy.event(third, "hook_received", hook_three["id"], payload=1).status_code == 409


def test_waits(proxy: Proxy) -> None:
    run_id = proxy.new_run()
    wait = proxy.event(run_id, "wait_created", seq=1, resumeAt=now_ms() + 1000)
    assert wait.status_code == 201
    wait_id = wait.get_json()["wait"]["id"]
    assert proxy.event(run_id, "wait_created", seq=1, resumeAt=1).status_code == 409
    done = proxy.event(run_id, "wait_completed", wait_id)
    assert done.get_json()["wait"]["status"] == "completed"
    assert proxy.event(run_id, "wait_completed", wait_id).status_code == 409
    assert proxy.event(run_id, "wait_completed", "wait_nope").status_code == 404
    assert proxy.event(run_id, "wait_created", seq=2).status_code == 400


def test_get_event_and_run(proxy: Proxy) -> None:
    run_id = proxy.new_run()
    events = proxy.post("/v1/world/events/list", {"runId": run_id}).get_json()["data"]
    fetched = proxy.get(f"/v1/world/events/{events[0]['id']}").get_json()
    assert fetched == events[0]
    assert proxy.get("/v1/world/events/evnt_nope").status_code == 404
    assert proxy.get(f"/v1/world/runs/{run_id}").get_json()["workflowName"] == "checkout"
    missing = proxy.get("/v1/world/runs/wrun_01M7YC5AFEJPZ7PVC344DBV2CX")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "not_found")

"""The world-proxy reads, streams, queue, encryption keys, pagination and scopes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.world_proxy.conftest import Proxy
from workflow_studio.storage.world import queue
from workflow_studio.worker.context import EXTENSION
from workflow_studio.worker.webhooks.tokens import RUN_KEY_INFO, hkdf_sha256

pytestmark = pytest.mark.both_backends

ROUTES = [
    ("POST", "/v1/queue/publish"), ("GET", "/v1/world/deployment-id"),
    ("POST", "/v1/world/events/create"), ("POST", "/v1/world/events/list"),
    ("POST", "/v1/world/events/list-by-correlation"), ("POST", "/v1/world/runs/list"),
    ("GET", "/v1/world/runs/wrun_01M7YC5AFEJPZ7PVC344DBV2CX"),
    ("GET", "/v1/world/events/evnt_x"), ("GET", "/v1/world/steps/step_x"),
    ("POST", "/v1/world/steps/list"), ("GET", "/v1/world/hooks/hook_x"),
    ("GET", "/v1/world/hooks/by-token/tok"), ("POST", "/v1/world/hooks/list"),
    ("POST", "/v1/world/streams/write"), ("POST", "/v1/world/streams/close"),
    ("GET", "/v1/world/streams/read"), ("GET", "/v1/world/streams/list"),
    ("GET", "/v1/world/streams/chunks"), ("GET", "/v1/world/streams/info"),
    ("POST", "/v1/world/encryption-key"),
]


def test_every_route_needs_world_proxy(client: Any, admin_headers: dict[str, str],
                                       proxy_headers: dict[str, str]) -> None:
    reader = client.post("/v1/keys", json={"name": "r", "scopes": ["runs:read", "runs:write",
                                                                  "trigger:write"]},
                         headers=admin_headers).get_json()["secret"]
    for n, (method, path) in enumerate(ROUTES):
        # Each from its own address: 20 failed authentications a minute throttle one.
        anonymous = client.open(path, method=method, json={},
                                environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
        assert (anonymous.status_code, anonymous.get_json()["code"]) == (401, "unauthorized")
        denied = client.open(path, method=method, json={},
                             headers={"Authorization": f"Bearer {reader}"})
        assert denied.status_code == 403, path
        assert denied.get_json() | {"message": ""} == {
            "code": "missing_scope", "scope": "world:proxy", "message": ""}
        allowed = client.open(path, method=method, json={}, headers=proxy_headers)
        assert allowed.status_code not in (401, 403, 500), (path, allowed.get_json())


def test_pagination(proxy: Proxy) -> None:
    run_ids = [proxy.new_run() for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = proxy.post("/v1/world/runs/list", {"limit": 2, "cursor": cursor}).get_json()
        seen += [r["id"] for r in page["data"]]
        assert len(page["data"]) <= 2
        if not page["hasMore"]:
            assert page["cursor"] is None
            break
        cursor = page["cursor"]
    assert seen == sorted(run_ids, reverse=True)  # runs default to newest first
    ascending = proxy.post("/v1/world/runs/list", {"limit": 1000, "sortOrder": "asc"})
    assert [r["id"] for r in ascending.get_json()["data"]] == sorted(run_ids)
    filtered = proxy.post("/v1/world/runs/list", {"status": "completed"}).get_json()
    assert filtered == {"data": [], "cursor": None, "hasMore": False}

    run_id = run_ids[0]
    proxy.event(run_id, "run_started")
    for seq in range(1, 4):
        proxy.event(run_id, "step_created", stepName="charge", seq=seq)
    first = proxy.post("/v1/world/events/list", {"runId": run_id, "limit": 3}).get_json()
    assert first["hasMore"] is True and len(first["data"]) == 3
    rest = proxy.post("/v1/world/events/list", {"runId": run_id, "limit": 3,
                                                "cursor": first["cursor"]}).get_json()
    assert rest["hasMore"] is False and len(rest["data"]) == 2
    newest = proxy.post("/v1/world/events/list", {"runId": run_id, "sortOrder": "desc",
                                                  "limit": 1}).get_json()
    assert newest["data"][0]["eventType"] == "step_created" and newest["hasMore"]
    steps = proxy.post("/v1/world/steps/list", {"runId": run_id, "limit": 2}).get_json()
    assert [s["position"] for s in steps["data"]] == [1, 2] and steps["cursor"] == 2
    later = proxy.post("/v1/world/steps/list", {"runId": run_id, "cursor": 2}).get_json()
    assert [s["position"] for s in later["data"]] == [3]

    for body in ({"limit": 1001}, {"limit": 0}, {"sortOrder": "sideways"}, {"cursor": 5}):
        bad = proxy.post("/v1/world/runs/list", body)
        assert (bad.status_code, bad.get_json()["code"]) == (400, "invalid_request"), body
    bad_cursor = proxy.post("/v1/world/events/list", {"runId": run_id, "cursor": "x"})
    assert bad_cursor.status_code == 400


def test_hooks_list(proxy: Proxy) -> None:
    first, second = proxy.new_run(), proxy.new_run()
    proxy.event(first, "hook_created", token="a", seq=1)
    proxy.event(second, "hook_created", token="b", seq=1)
    mine = proxy.post("/v1/world/hooks/list", {"runId": first}).get_json()
    assert [h["token"] for h in mine["data"]] == ["a"]
    every = proxy.post("/v1/world/hooks/list", {"limit": 1}).get_json()
    assert every["hasMore"] is True
    more = proxy.post("/v1/world/hooks/list", {"cursor": every["cursor"]}).get_json()
    assert {h["token"] for h in every["data"] + more["data"]} == {"a", "b"}


def test_streams(proxy: Proxy) -> None:
    run_id = proxy.new_run()
    wrote = proxy.post("/v1/world/streams/write", {"runId": run_id, "name": "log",
                                                   "chunk": "first"})
    assert wrote.status_code == 201 and wrote.get_json()["chunks"] == 1
    proxy.post("/v1/world/streams/write", {"runId": run_id, "name": "log",
                                           "chunks": [2, {"three": 3}]})
    page = proxy.get("/v1/world/streams/read", runId=run_id, name="log").get_json()
    assert [c["data"] for c in page["data"]] == ["first", 2, {"three": 3}]
    assert page["done"] is False
    partial = proxy.get("/v1/world/streams/chunks", runId=run_id, name="log", limit=2,
                        cursor=page["data"][0]["position"]).get_json()
    assert [c["data"] for c in partial["data"]] == [2, {"three": 3}]
    closed = proxy.post("/v1/world/streams/close", {"runId": run_id, "name": "log"})
    assert closed.get_json()["closed"] is True
    assert proxy.post("/v1/world/streams/close", {"runId": run_id,
                                                  "name": "log"}).status_code == 200
    late = proxy.post("/v1/world/streams/write", {"runId": run_id, "name": "log", "chunk": 4})
    assert (late.status_code, late.get_json()["code"]) == (409, "conflict")
    tail = proxy.get("/v1/world/streams/read", runId=run_id, name="log",
                     cursor=page["cursor"]).get_json()
    assert tail["done"] is True and tail["data"][-1]["done"] is True
    info = proxy.get("/v1/world/streams/info", runId=run_id, name="log").get_json()
    assert (info["chunks"], info["closed"]) == (3, True)
    proxy.post("/v1/world/streams/write", {"runId": run_id, "name": "audit", "chunk": 1})
    listed = proxy.get("/v1/world/streams/list", runId=run_id).get_json()
    assert listed["data"] == ["audit", "log"]
    missing = proxy.get("/v1/world/streams/read", runId="wrun_01M7YC5AFEJPZ7PVC344DBV2CX")
    assert missing.status_code == 404
    assert proxy.get("/v1/world/streams/read").status_code == 400


def test_queue_publish_and_deployment_id(proxy: Proxy, app: Any, deployment: str) -> None:
    assert proxy.get("/v1/world/deployment-id").get_json() == {"deploymentId": deployment}
    run_id = proxy.new_run()
    published = proxy.post("/v1/queue/publish", {"runId": run_id, "delaySeconds": 60})
    assert published.status_code == 202 and published.get_json()["queued"] is True
    conn = app.extensions[EXTENSION].db.connection()
    row = conn.query_one("SELECT * FROM queue_messages WHERE run_id = ?", (run_id,))
    assert row is not None and row["kind"] == "run"
    proxy.post("/v1/queue/publish", {"queueName": "workflows", "message": {"runId": run_id}})
    assert queue.pending_count(conn) == 1  # one message per run, made due sooner
    proxy.event(run_id, "run_cancelled")
    finished = proxy.post("/v1/queue/publish", {"runId": run_id})
    assert (finished.status_code, finished.get_json()["code"]) == (409, "run_terminal")
    assert proxy.post("/v1/queue/publish", {}).status_code == 400


def test_no_active_deployment(client: Any, proxy_headers: dict[str, str]) -> None:
    response = client.get("/v1/world/deployment-id", headers=proxy_headers)
    assert (response.status_code, response.get_json()["code"]) == (409, "no_active_deployment")
    created = client.post("/v1/world/events/create", headers=proxy_headers, json={
        "eventType": "run_created", "eventData": {"workflowName": "checkout"}})
    assert (created.status_code, created.get_json()["code"]) == (409, "no_active_deployment")


def test_encryption_key_is_derived_per_run(make_settings: Any, admin_headers: dict[str, str]
                                           ) -> None:
    from tests.world_proxy.conftest import record_deployment
    from workflow_studio.worker import create_app

    secret = "server-secret-0123456789"
    app = create_app(make_settings(secret_key=secret))
    record_deployment(app)
    client = app.test_client()
    proxy = Proxy(client, admin_headers)
    first, second = proxy.new_run(), proxy.new_run()
    key = proxy.post("/v1/world/encryption-key", {"runId": first}).get_json()
    again = proxy.post("/v1/world/encryption-key", {"runId": first}).get_json()
    other = proxy.post("/v1/world/encryption-key", {"runId": second}).get_json()
    assert key == again and key["key"] != other["key"]
    raw = base64.urlsafe_b64decode(key["key"] + "=")
    assert raw == hkdf_sha256(secret.encode(), RUN_KEY_INFO + first.encode())
    assert len(raw) == 32 and secret not in str(key)
    missing = proxy.post("/v1/world/encryption-key",
                         {"runId": "wrun_01M7YC5AFEJPZ7PVC344DBV2CX"})
    assert missing.status_code == 404


def test_generated_secret_is_shared_through_the_database(make_settings: Any,
                                                         admin_headers: dict[str, str]
                                                         ) -> None:
    from tests.world_proxy.conftest import record_deployment
    from workflow_studio.worker import create_app

    settings = make_settings()
    one, two = create_app(settings), create_app(settings)
    record_deployment(one)
    run_id = Proxy(one.test_client(), admin_headers).new_run()
    keys = [Proxy(a.test_client(), admin_headers).post(
        "/v1/world/encryption-key", {"runId": run_id}).get_json()["key"] for a in (one, two)]
    assert keys[0] == keys[1]


def test_hkdf_matches_rfc5869_vector() -> None:
    # RFC 5869 test case 1.
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = hkdf_sha256(ikm, info, 42, salt)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")

"""Bounded input on a real gunicorn worker: every body is read through its route's cap, also
when it is chunked, and what is over a cap or a payload limit is a 413 that stores nothing
and leaves the worker as it was (health, memory, database size).

Each test sends the body the way the hole showed itself: a 50 MB trigger body that used to
be stored (650 MB of database and WAL, a 780 MB process), chunked bodies that passed a cap
checked on Content-Length, payloads that reached the database whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from itsdangerous import URLSafeSerializer

from tests.conftest import ADMIN_KEY
from tests.rawhttp import (
    activate_recorded_deployment,
    chunked,
    exchange,
    head,
    pieces,
    row_counts,
    storage_bytes,
    workers_rss,
)
from workflow_studio.worker.webhooks.tokens import HOOK_SALT

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
MIB = 1024 * 1024
STORED = ("workflow_runs", "idempotency_keys", "queue_messages", "workflow_events",
          "stream_chunks")
SECRET_KEY = "limits-test-secret-key-0123456789"


def trigger_head(length: int | None, key: str) -> bytes:
    framing = {"Content-Length": str(length)} if length is not None \
        else {"Transfer-Encoding": "chunked"}
    return head("POST", "/v1/runs", {**AUTH, "Idempotency-Key": key,
                                     "Content-Type": "application/json", **framing})


def trigger_body(size: int) -> bytes:
    """A valid trigger body of exactly ``size`` bytes (one string argument pads it)."""
    empty = b'{"workflowName":"checkout","args":[""]}'
    return empty[:-3] + b"x" * (size - len(empty)) + empty[-3:]


def assert_healthy(url: str) -> None:
    assert requests.get(f"{url}/v1/health", timeout=5).status_code == 200


@pytest.fixture
def ready(start_worker: Callable[..., Any], make_database: Callable[..., Any],
          backend_options: dict[str, Any], tmp_path: Path) -> Callable[..., Any]:
    """Start a worker with ``options``; returns (worker, database, sizes()) with an active
    deployment, where ``sizes()`` is (database bytes, largest worker process RSS)."""
    def start(**options: Any) -> tuple[Any, Any, Callable[[], tuple[int, int]]]:
        worker = start_worker(**options)
        database = make_database("worker.db")
        activate_recorded_deployment(database)

        def sizes() -> tuple[int, int]:
            return (storage_bytes(backend_options, tmp_path / "worker.db"),
                    workers_rss(worker.pid))
        return worker, database, sizes
    return start


def test_a_50_mb_trigger_body_is_refused_before_it_is_read(ready: Callable[..., Any]) -> None:
    worker, database, sizes = ready(workers=1)
    before, (db_before, rss_before) = row_counts(database, STORED), sizes()
    body = trigger_body(50 * MIB)

    reply = exchange(worker.url, trigger_head(len(body), "big-1"), pieces(body))

    assert (reply.status, reply.json()["code"]) == (413, "payload_too_large")
    assert "worker.limits.max_json_bytes" in reply.json()["message"]
    assert reply.json()["limit"] == MIB
    assert row_counts(database, STORED) == before
    db_after, rss_after = sizes()
    assert db_after - db_before < MIB, "the body (or part of it) was stored"
    assert rss_after - rss_before < 32 * MIB, "the body was read into memory"
    assert_healthy(worker.url)


def test_a_chunked_trigger_body_is_cut_off_at_the_cap(ready: Callable[..., Any]) -> None:
    worker, database, sizes = ready(workers=1)
    before, (db_before, rss_before) = row_counts(database, STORED), sizes()

    reply = exchange(worker.url, trigger_head(None, "big-2"), chunked(trigger_body(8 * MIB)))

    assert (reply.status, reply.json()["code"]) == (413, "payload_too_large")
    assert row_counts(database, STORED) == before
    db_after, rss_after = sizes()
    assert db_after - db_before < MIB and rss_after - rss_before < 32 * MIB
    assert_healthy(worker.url)


def test_the_json_cap_is_its_own_setting_and_exact(ready: Callable[..., Any]) -> None:
    worker, database, _ = ready(max_json_bytes=4096)
    at_cap, over_cap = trigger_body(4096), trigger_body(4097)

    for framing, framed in ((len, pieces), (lambda _: None, chunked)):
        accepted = exchange(worker.url, trigger_head(framing(at_cap), f"at-{framed.__name__}"),
                            framed(at_cap))
        assert accepted.status == 202, accepted.body
        refused = exchange(worker.url, trigger_head(framing(over_cap), f"over-{framed.__name__}"),
                           framed(over_cap))
        assert (refused.status, refused.json()["code"]) == (413, "payload_too_large")
        assert refused.json()["limit"] == 4096
    assert row_counts(database, ["workflow_runs"]) == {"workflow_runs": 2}
    assert_healthy(worker.url)


def test_payloads_over_the_payload_limit_are_413_and_not_stored(
        ready: Callable[..., Any]) -> None:
    worker, database, _ = ready(max_payload_bytes=2048, secret_key=SECRET_KEY)
    big = "x" * 3000  # under the 1 MiB body cap, over the payload limit
    api = requests.Session()
    api.headers.update(AUTH)

    trigger = api.post(f"{worker.url}/v1/runs", json={"workflowName": "checkout",
                                                      "kwargs": {"note": big}},
                       headers={"Idempotency-Key": "payload-1"})
    assert (trigger.status_code, trigger.json()["code"]) == (413, "payload_too_large")
    assert "worker.limits.max_payload_bytes" in trigger.json()["message"]

    # A run waiting on a hook, made through the world proxy (no workflow code needed).
    def event(run_id: str | None, event_type: str, **data: Any) -> requests.Response:
        return api.post(f"{worker.url}/v1/world/events/create",
                        json={"runId": run_id, "eventType": event_type, "eventData": data})
    created = event(None, "run_created", workflowName="checkout")
    assert created.status_code == 201, created.text
    run_id = created.json()["run"]["id"]
    assert event(run_id, "hook_created", seq=1, token="approve-1").status_code == 201
    hook_id = api.get(f"{worker.url}/v1/world/hooks/by-token/approve-1").json()["id"]

    refused = {
        "resume": api.post(f"{worker.url}/v1/runs/resume",
                           json={"token": "approve-1", "payload": big}),
        "hook_received": api.post(f"{worker.url}/v1/world/events/create", json={
            "runId": run_id, "eventType": "hook_received", "correlationId": hook_id,
            "eventData": {"payload": big}}),
        "step_created": event(run_id, "step_created", seq=2, stepName="charge",
                              input={"args": [big], "kwargs": {}}),
        "stream": api.post(f"{worker.url}/v1/world/streams/write",
                           json={"runId": run_id, "name": "log", "chunk": big}),
        "hook url": requests.post(
            f"{worker.url}/v1/hooks/"
            f"{URLSafeSerializer(SECRET_KEY, salt=HOOK_SALT).dumps('approve-1')}",
            json={"note": big}),
    }
    for name, response in refused.items():
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large"), \
            (name, response.text)
    conn = database.connection()
    hook = conn.query_one("SELECT status, payload_json FROM workflow_hooks WHERE id = ?",
                          (hook_id,))
    assert hook == {"status": "pending", "payload_json": None}
    assert row_counts(database, ["workflow_runs", "workflow_steps", "stream_chunks"]) == {
        "workflow_runs": 1, "workflow_steps": 0, "stream_chunks": 0}
    # Within the limit, the same routes store it.
    accepted = api.post(f"{worker.url}/v1/runs/resume",
                        json={"token": "approve-1", "payload": "x" * 1000})
    assert accepted.status_code == 202, accepted.text
    assert_healthy(worker.url)


def test_a_chunked_upload_over_the_artifact_cap_is_413_and_leaves_nothing(
        ready: Callable[..., Any], tmp_path: Path) -> None:
    worker, database, sizes = ready(workers=1, max_artifact_bytes=64 * 1024)
    before, (_, rss_before) = row_counts(database, ["deployments"]), sizes()
    boundary = b"upload-boundary"
    body = b"".join([
        b"--%s\r\n" % boundary,
        b'Content-Disposition: form-data; name="manifest"; filename="manifest.json"\r\n',
        b"Content-Type: application/json\r\n\r\n{}\r\n",
        b"--%s\r\n" % boundary,
        b'Content-Disposition: form-data; name="artifact"; filename="artifact.tar.gz"\r\n',
        b"Content-Type: application/gzip\r\n\r\n", b"\x1f\x8b" + b"x" * (16 * MIB), b"\r\n",
        b"--%s--\r\n" % boundary])
    upload_head = head("POST", "/v1/deployments", {
        **AUTH, "Transfer-Encoding": "chunked",
        "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})

    reply = exchange(worker.url, upload_head, chunked(body))

    assert (reply.status, reply.json()["code"]) == (413, "payload_too_large")
    assert row_counts(database, ["deployments"]) == before
    assert [p.name for p in (tmp_path / "artifacts").iterdir()] == []
    assert sizes()[1] - rss_before < 32 * MIB
    assert_healthy(worker.url)

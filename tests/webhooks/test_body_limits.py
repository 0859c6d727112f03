"""The unauthenticated routes on a real gunicorn worker: what can be checked without the
body is checked before it is read, and the body is read only up to its cap, also when it is
chunked (a chunked 8 MiB delivery used to pass the 5 MiB cap, which read Content-Length,
and a chunked 60 MB body was read whole before its signature was looked at)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
import requests
from itsdangerous import URLSafeSerializer

from tests.conftest import ADMIN_KEY
from tests.rawhttp import activate_recorded_deployment, chunked, exchange, head, row_counts
from tests.webhooks.signing import SECRETS
from workflow_studio.worker.webhooks.tokens import HOOK_SALT

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
MIB = 1024 * 1024
SECRET_KEY = "webhook-limits-secret-key-0123456789"
STORED = ("webhook_deliveries", "workflow_runs", "queue_messages")
# A body sent while the worker refuses it stops once the answer is there; what the sockets
# buffer meanwhile is a few MiB at most. Read whole, all of it would have gone.
UNREAD = 20 * MIB


@pytest.fixture
def worker(start_worker: Callable[..., Any]) -> Any:
    return start_worker(workers=1, secret_key=SECRET_KEY,
                        webhooks={"hmac": {"secret": SECRETS["hmac"]}})


@pytest.fixture
def database(worker: Any, make_database: Callable[..., Any]) -> Any:
    return make_database("worker.db")


def delivery_head(framing: dict[str, str], signature: str | None = None) -> bytes:
    headers = {"Content-Type": "application/json", **framing}
    if signature is not None:
        headers["X-Signature"] = signature
    return head("POST", "/v1/webhooks/hmac", headers)


def signed(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRETS["hmac"].encode(), body, hashlib.sha256).hexdigest()


def assert_healthy(url: str) -> None:
    assert requests.get(f"{url}/v1/health", timeout=5).status_code == 200


def test_a_signed_chunked_delivery_over_the_cap_is_413_and_not_recorded(
        worker: Any, database: Any) -> None:
    body = b'{"pad": "' + b"x" * (8 * MIB) + b'"}'

    reply = exchange(worker.url, delivery_head({"Transfer-Encoding": "chunked"}, signed(body)),
                     chunked(body))

    assert (reply.status, reply.json()["code"]) == (413, "payload_too_large")
    assert "worker.limits.max_webhook_bytes" in reply.json()["message"]
    assert row_counts(database, STORED) == dict.fromkeys(STORED, 0)
    assert_healthy(worker.url)


def test_what_fails_without_the_body_is_refused_before_it_is_read(
        worker: Any, database: Any) -> None:
    huge = chunked(b"x" * (60 * MIB))
    # No signature header: 401 at once, whether the body is announced (within the cap, and
    # never sent: an answer proves nothing was awaited) or streamed.
    announced = exchange(worker.url, delivery_head({"Content-Length": str(MIB)}))
    streamed = exchange(worker.url, delivery_head({"Transfer-Encoding": "chunked"}), huge)
    for reply in (announced, streamed):
        assert (reply.status, reply.json()["code"]) == (401, "invalid_signature")
        assert "X-Signature" in reply.json()["message"]
    assert streamed.sent < UNREAD
    # A signature header (any): a body announced over the cap is 413 unread, a streamed one
    # at the cap.
    forged = "sha256=" + "0" * 64
    announced = exchange(worker.url, delivery_head({"Content-Length": str(60 * MIB)}, forged))
    streamed = exchange(worker.url, delivery_head({"Transfer-Encoding": "chunked"}, forged),
                        chunked(b"x" * (60 * MIB)))
    for reply in (announced, streamed):
        assert (reply.status, reply.json()["code"]) == (413, "payload_too_large")
    assert streamed.sent < UNREAD
    assert row_counts(database, STORED) == dict.fromkeys(STORED, 0)
    assert_healthy(worker.url)


def test_hook_urls_check_the_token_first_and_cap_the_body(worker: Any, database: Any) -> None:
    activate_recorded_deployment(database)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    created = api.post(f"{worker.url}/v1/world/events/create",
                       json={"eventType": "run_created", "eventData": {"workflowName": "checkout"}})
    run_id = created.json()["run"]["id"]
    assert api.post(f"{worker.url}/v1/world/events/create", json={
        "runId": run_id, "eventType": "hook_created",
        "eventData": {"seq": 1, "token": "inbox-1"}}).status_code == 201
    signed_token = URLSafeSerializer(SECRET_KEY, salt=HOOK_SALT).dumps("inbox-1")
    framing = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}

    forged = exchange(worker.url, head("POST", f"/v1/hooks/{signed_token}x", framing),
                      chunked(b"x" * (60 * MIB)))
    assert (forged.status, forged.json()["code"]) == (401, "invalid_signature")
    assert forged.sent < UNREAD
    too_big = exchange(worker.url, head("POST", f"/v1/hooks/{signed_token}", framing),
                       chunked(b'["' + b"x" * (8 * MIB) + b'"]'))
    assert (too_big.status, too_big.json()["code"]) == (413, "payload_too_large")

    hook = database.connection().query_one(
        "SELECT status, payload_json FROM workflow_hooks WHERE token = ?", ("inbox-1",))
    assert hook == {"status": "pending", "payload_json": None}
    assert row_counts(database, ["queue_messages"]) == {"queue_messages": 0}
    assert_healthy(worker.url)

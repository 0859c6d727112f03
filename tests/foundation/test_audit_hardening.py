"""The audit log under abuse: a flood of bad credentials adds one row per client and
minute (with the right count), unauthenticated requests record a caller's ids only as
``unverified`` claims, and hook URL tokens never appear whole in audit rows or logs."""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from gunicorn.glogging import SafeAtoms

from tests.conftest import ADMIN_KEY
from tests.foundation.test_auth_throttle import served_by, wait_for_fresh_window
from tests.webhooks.signing import SECRETS, sign
from tests.world_proxy.conftest import Proxy, record_deployment
from workflow_studio.worker import create_app
from workflow_studio.worker.redaction import RedactHookTokens, redact
from workflow_studio.worker.webhooks.tokens import EXTENSION as SECRETS_EXTENSION
from workflow_studio.worker.webhooks.tokens import ServerSecret

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
FORGED_RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"
SECRET_KEY = "audit-test-secret-key-0123456789"


def audit_rows(url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = "0"
    while cursor:
        page = requests.get(f"{url}/v1/audit", headers=AUTH, timeout=10,
                            params={"limit": 1000, "cursor": cursor}).json()
        rows += page["data"]
        cursor = page["cursor"]
    return rows


def bad_requests(url: str, count: int, **headers: str) -> list[requests.Response]:
    def call(n: int) -> requests.Response:
        method = "POST" if n % 2 else "GET"  # reads and writes alike
        return requests.request(method, f"{url}/v1/keys", timeout=10, json={}, headers={
            "Authorization": f"Bearer bad_{secrets.token_urlsafe(16)}", "Connection": "close",
            "x-workflow-correlation-id": f"forged-{n}", "x-workflow-run-id": FORGED_RUN,
            **headers})

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(call, range(count)))


@pytest.mark.e2e
@pytest.mark.both_backends
def test_a_flood_of_bad_keys_adds_one_row_per_client_and_minute(start_worker: Any) -> None:
    worker = start_worker(workers=2, auth_failures_per_minute=0)  # the aggregation alone
    before = audit_rows(worker.url)
    responses = bad_requests(worker.url, 300)
    assert {r.status_code for r in responses} == {401}
    assert len(served_by(worker.log())) == 2, "both gunicorn processes should have served"
    added = [r for r in audit_rows(worker.url) if r not in before]
    assert 1 <= len(added) <= 2  # one per minute the flood touched
    assert sum(r["metadata"]["count"] for r in added) == 300
    for row in added:
        assert (row["status"], row["keyId"], row["correlationId"], row["runId"]) == (
            401, None, "-", None)
        assert row["metadata"]["client"] == "127.0.0.1"
        assert row["metadata"]["credential"] == "api_key"
        assert row["metadata"]["auth_failure"] is True and row["metadata"]["last_at"]
        assert "forged" not in json.dumps(row) and FORGED_RUN not in json.dumps(row)


@pytest.mark.e2e
@pytest.mark.both_backends
def test_throttled_requests_write_nothing(start_worker: Any) -> None:
    # The flood comes through a trusted proxy, so the test's own admin calls (from the
    # proxy's address) are not throttled with it.
    worker = start_worker(workers=2, auth_failures_per_minute=20,
                          trusted_proxies=["127.0.0.1"])
    wait_for_fresh_window()
    before = audit_rows(worker.url)
    responses = bad_requests(worker.url, 120, **{"X-Forwarded-For": "203.0.113.9"})
    assert Counter(r.status_code for r in responses) == {401: 20, 429: 100}
    added = [r for r in audit_rows(worker.url) if r not in before]
    assert [(r["status"], r["metadata"]["count"], r["metadata"]["client"])
            for r in added] == [(401, 20, "203.0.113.9")]


@pytest.fixture
def hook_app(make_settings: Any) -> Any:
    app = create_app(make_settings(secret_key=SECRET_KEY,
                                   webhooks={"hmac": {"secret": SECRETS["hmac"]}}))
    record_deployment(app)
    return app


def _rows(client: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/v1/audit?limit=1000",
                                            headers=AUTH).get_json()["data"]
    return rows


@pytest.mark.both_backends
def test_unauthenticated_requests_record_claims_as_unverified(hook_app: Any) -> None:
    client = hook_app.test_client()
    forged = {"x-workflow-correlation-id": "forged-corr", "x-workflow-run-id": FORGED_RUN}
    body = b'{"id": "evt-1"}'
    delivered = client.post("/v1/webhooks/hmac", data=body, headers={
        **sign("hmac", body, "d-1"), "Content-Type": "application/json", **forged})
    assert delivered.status_code == 200
    plain = client.post("/v1/webhooks/hmac", data=b"{}", headers={
        **sign("hmac", b"{}", "d-2"), "Content-Type": "application/json"})
    assert plain.status_code == 200

    created = client.post("/v1/keys", json={"name": "proxy", "scopes": ["world:proxy"]},
                          headers=AUTH).get_json()
    proxy = Proxy(client, {"Authorization": f"Bearer {created['secret']}"})
    run_id = proxy.new_run()
    proxy.event(run_id, "hook_created", token="approve-42", seq=1)
    signed = hook_app.extensions[SECRETS_EXTENSION].sign_hook_token("approve-42")
    resumed = client.post(f"/v1/hooks/{signed}", json={"ok": True}, headers=forged)
    assert resumed.status_code == 202 and resumed.get_json()["runId"] == run_id

    rows = _rows(client)
    first, second = [r for r in rows if r["path"] == "/v1/webhooks/hmac"]
    assert (first["keyId"], first["correlationId"], first["runId"]) == (None, "-", None)
    assert first["metadata"]["unverified"] == {"correlation_id": "forged-corr",
                                               "run_id": FORGED_RUN}
    # No claim: the row's correlation id is the one the worker made and answered with.
    assert second["correlationId"] == plain.headers["x-workflow-correlation-id"]
    assert "unverified" not in second["metadata"]
    [hook_row] = [r for r in rows if r["path"] == f"/v1/hooks/<redacted:{signed[:8]}>"]
    assert hook_row["runId"] == run_id  # found in the database: a fact
    assert hook_row["metadata"]["run_id"] == run_id
    assert hook_row["metadata"]["unverified"]["run_id"] == FORGED_RUN
    # With a valid key, the caller is accountable and its ids are the row's.
    client.delete("/v1/keys/key_nope", headers={**AUTH, **forged})
    [keyed] = [r for r in _rows(client) if r["path"] == "/v1/keys/key_nope"]
    assert (keyed["correlationId"], keyed["runId"]) == ("forged-corr", FORGED_RUN)
    assert "unverified" not in keyed["metadata"]


@pytest.mark.e2e
def test_hook_tokens_are_redacted_in_audit_rows_and_the_access_log(start_worker: Any) -> None:
    worker = start_worker(secret_key=SECRET_KEY)
    signed = ServerSecret(SECRET_KEY, db=None).sign_hook_token("approve-order-42")
    gone = requests.post(f"{worker.url}/v1/hooks/{signed}", json={"x": 1}, timeout=10)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")  # no such hook
    forged_token = "forged" + secrets.token_urlsafe(24)
    forged = requests.post(f"{worker.url}/v1/hooks/{forged_token}", json={}, timeout=10)
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_signature")
    paths = {r["path"]: r for r in audit_rows(worker.url)}
    assert f"/v1/hooks/<redacted:{signed[:8]}>" in paths
    failed = paths[f"/v1/hooks/<redacted:{forged_token[:8]}>"]
    assert failed["metadata"]["credential"] == "signature" and failed["metadata"]["count"] == 1
    everything = json.dumps(audit_rows(worker.url))
    log = worker.log()
    for token in (signed, forged_token):
        assert token not in everything
        assert token not in log
    assert f'"POST /v1/hooks/<redacted:{signed[:8]}> HTTP/1.1" 404' in log


def test_the_log_filter_redacts_every_form_of_a_hook_path() -> None:
    token = "ImFwcHJvdmUtNDIi.sig-nature_value"
    assert redact(f"POST /v1/hooks/{token}?x=1 HTTP/1.1") == (
        "POST /v1/hooks/<redacted:ImFwcHJv>?x=1 HTTP/1.1")
    assert redact(redact(f"/v1/hooks/{token}")) == "/v1/hooks/<redacted:ImFwcHJv>"
    assert redact(f"/v1/%68ooks/{token}") == "/v1/hooks/<redacted:ImFwcHJv>"  # routes alike
    assert redact(f"/v1/world/hooks/by-token/{token}") == (
        "/v1/world/hooks/by-token/<redacted:ImFwcHJv>")
    assert redact("/v1/runs/wrun_1 100%") == "/v1/runs/wrun_1 100%"
    access = logging.LogRecord("gunicorn.access", logging.INFO, "", 0,
                               '"%(r)s" %(U)s %({referer}i)s', None, None)
    access.args = SafeAtoms({"r": f"POST /v1/hooks/{token} HTTP/1.1", "U": f"/v1/hooks/{token}",
                             "{referer}i": f"https://w.example/v1/hooks/{token}"})
    assert RedactHookTokens().filter(access)
    assert token not in access.getMessage() and "<redacted:ImFwcHJv>" in access.getMessage()
    error = logging.LogRecord("gunicorn.error", logging.ERROR, "", 0,
                              "Error handling request %s", (f"/v1/hooks/{token}",), None)
    RedactHookTokens().filter(error)
    assert error.getMessage() == "Error handling request /v1/hooks/<redacted:ImFwcHJv>"

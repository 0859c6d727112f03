"""The runs API's client errors, through the Flask test client (no executor needed)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.both_backends


def test_run_lookups_validate_ids(client: Any, admin_headers: dict[str, str]) -> None:
    bad = client.get("/v1/runs/not-a-run", headers=admin_headers)
    assert (bad.status_code, bad.json["code"]) == (400, "invalid_run_id")
    missing = client.get("/v1/runs/wrun_01M7YC5AFEJPZ7PVC344DBV2CX", headers=admin_headers)
    assert (missing.status_code, missing.json["code"]) == (404, "not_found")
    cancel = client.post("/v1/runs/wrun_01M7YC5AFEJPZ7PVC344DBV2CX/cancel",
                         headers=admin_headers)
    assert cancel.status_code == 404


def test_trigger_errors(client: Any, admin_headers: dict[str, str]) -> None:
    body = {"workflowName": "x"}
    no_key = client.post("/v1/runs", json=body, headers=admin_headers)
    assert (no_key.status_code, no_key.json["code"]) == (409, "idempotency_required")
    headers = {**admin_headers, "Idempotency-Key": "k"}
    invalid = client.post("/v1/runs", json={"args": "nope"}, headers=headers)
    assert (invalid.status_code, invalid.json["code"]) == (400, "invalid_request")
    assert "workflowName" in invalid.json["fields"]
    none = client.post("/v1/runs", json=body, headers=headers)
    assert (none.status_code, none.json["code"]) == (409, "no_active_deployment")
    bad_dpl = client.post("/v1/runs", json={**body, "deploymentId": "x"}, headers=headers)
    assert (bad_dpl.status_code, bad_dpl.json["code"]) == (400, "invalid_deployment_id")


def test_list_filters_and_resume_errors(client: Any, admin_headers: dict[str, str]) -> None:
    listed = client.get("/v1/runs?status=running&limit=5", headers=admin_headers)
    assert listed.status_code == 200
    assert listed.json == {"data": [], "cursor": None, "hasMore": False}
    bad = client.get("/v1/runs?status=sleeping", headers=admin_headers)
    assert (bad.status_code, bad.json["code"]) == (400, "invalid_request")
    too_long = client.get("/v1/runs/wrun_01M7YC5AFEJPZ7PVC344DBV2CX?wait=31",
                          headers=admin_headers)
    assert too_long.status_code == 400
    resume = client.post("/v1/runs/resume", json={"token": "nope", "payload": 1},
                         headers=admin_headers)
    assert (resume.status_code, resume.json["code"]) == (404, "not_found")


def test_scopes(client: Any, admin_headers: dict[str, str]) -> None:
    created = client.post("/v1/keys", json={"name": "reader", "scopes": ["runs:read"]},
                          headers=admin_headers).json
    reader = {"Authorization": f"Bearer {created['secret']}", "Idempotency-Key": "k"}
    denied = client.post("/v1/runs", json={"workflowName": "x"}, headers=reader)
    assert (denied.status_code, denied.json["scope"]) == (403, "trigger:write")
    assert client.get("/v1/runs", headers=reader).status_code == 200
    assert client.post("/v1/runs/resume", json={"token": "t"},
                       headers=reader).json["scope"] == "runs:write"
    assert ADMIN_KEY not in str(denied.json)

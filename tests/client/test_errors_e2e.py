"""The client's error classes against a real worker's responses, one per runbook code:
each carries the code, the HTTP status, the message and the correlation id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import value_project
from workflow_studio.client import ComputeClient
from workflow_studio.client import errors as e
from workflow_studio.client.retry import NO_RETRY

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
READER_KEY = "wsk_test_reader_key_0123456789abcdef"
LIMITED_KEY = "wsk_test_limited_key_0123456789abcde"
CORRELATION = "3f0c9a51-1c1e-4c55-9a4e-runbook00001"


@pytest.fixture
def worker(start_worker: Any) -> Any:
    return start_worker(
        require_https=True, trusted_proxies=["127.0.0.1"],
        seed_api_keys=[{"key": ADMIN_KEY, "scopes": ["admin"]},
                       {"key": READER_KEY, "scopes": ["runs:read"], "name": "reader"},
                       {"key": LIMITED_KEY, "scopes": ["admin"], "name": "limited",
                        "rate_limit_per_minute": 1}])


def caught(call: Any, cls: type[e.ComputeClientError], code: str,
           status: int) -> e.ComputeClientError:
    with pytest.raises(cls) as info:
        call()
    error = info.value
    assert (error.code, error.status) == (code, status)
    assert error.message and error.correlation_id
    assert str(error).startswith(f"{status} {code}: ")
    return error


def test_every_runbook_code(worker: Any, tmp_path: Path) -> None:
    admin = ComputeClient(worker.url, ADMIN_KEY, retry=NO_RETRY)
    headers = {"x-workflow-correlation-id": CORRELATION}

    unauthorized = caught(
        lambda: ComputeClient(worker.url, "wsk_wrong_key_000000000000000000000").request(
            "GET", "/v1/keys", headers=headers),
        e.UnauthorizedComputeClientError, "unauthorized", 401)
    assert unauthorized.correlation_id == CORRELATION
    assert unauthorized.action and "bearer key" in unauthorized.action

    reader = ComputeClient(worker.url, READER_KEY, retry=NO_RETRY)
    missing = caught(lambda: reader.trigger_run("report"), e.MissingScopeComputeClientError,
                     "missing_scope", 403)
    assert missing.body["scope"] == "trigger:write"

    caught(lambda: admin.trigger_run("report"), e.NoActiveDeploymentComputeClientError,
           "no_active_deployment", 409)
    caught(lambda: admin.request("POST", "/v1/runs", json={"workflowName": "report"}),
           e.IdempotencyComputeClientError, "idempotency_required", 409)
    caught(lambda: admin.get_deployment("dpl_01M7YC5AFEJPZ7PVC344DBV2CX"),
           e.NotFoundComputeClientError, "not_found", 404)
    caught(lambda: admin.get_deployment("not-a-deployment"),
           e.InvalidRequestComputeClientError, "invalid_deployment_id", 400)

    project = value_project(tmp_path / "project", 7)
    other = value_project(tmp_path / "other", 8)
    invalid = caught(lambda: admin.create_deployment(project.manifest_path,
                                                     other.artifact_path),
                     e.InvalidManifestComputeClientError, "invalid_manifest", 400)
    assert "Rebuild" in (invalid.action or "")

    deployment = admin.create_deployment(project.manifest_path, project.artifact_path)
    admin.activate_deployment(deployment["id"])
    admin.trigger_run("report", idempotency_key="order-1")
    conflict = caught(lambda: admin.trigger_run("report", [1], idempotency_key="order-1"),
                      e.IdempotencyComputeClientError, "idempotency_conflict", 409)
    assert isinstance(conflict, e.IdempotencyComputeClientError)

    limited = ComputeClient(worker.url, LIMITED_KEY, retry=NO_RETRY)
    limited.list_keys()
    rate = caught(limited.list_keys, e.RateLimitedComputeClientError, "rate_limited", 429)
    assert rate.retry_after is not None and rate.retry_after > 0

    https = caught(lambda: admin.request("GET", "/v1/keys", headers={
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http", **headers}),
        e.HttpsRequiredComputeClientError, "https_required", 403)
    assert https.correlation_id == CORRELATION

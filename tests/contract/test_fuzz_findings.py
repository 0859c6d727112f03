"""What schemathesis found in the routes' validation, each pinned: JSON numbers in bodies
are taken as JSON Schema reads them (``5.0`` is the integer 5; ``2.5`` is no integer and
``"5"`` no number), where marshmallow had truncated ``2.5`` to 2 and parsed strings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.world_proxy.conftest import record_deployment


def _key(client: Any, headers: dict[str, str], rate: Any) -> Any:
    return client.post("/v1/keys", json={"name": "n", "scopes": ["runs:read"],
                                         "rateLimitPerMinute": rate}, headers=headers)


@pytest.mark.parametrize("rate", [2.5, 2.589e-42, "5", True, float("1e300")])
def test_a_rate_that_is_no_json_integer_is_refused(client: Any, admin_headers: dict[str, str],
                                                   rate: Any) -> None:
    response = _key(client, admin_headers, rate)
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_request")
    assert "rateLimitPerMinute" in response.get_json()["fields"]


def test_an_integral_float_is_an_integer(client: Any, admin_headers: dict[str, str]) -> None:
    response = _key(client, admin_headers, 5.0)
    assert response.status_code == 201
    assert response.get_json()["rateLimitPerMinute"] == 5


@pytest.mark.parametrize(("limit", "status"), [(2.5, 400), ("10", 400), (10.0, 200), (10, 200)])
def test_world_list_limits_are_json_integers(app: Any, client: Any,
                                             admin_headers: dict[str, str], limit: Any,
                                             status: int) -> None:
    response = client.post("/v1/world/runs/list", json={"limit": limit}, headers=admin_headers)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(("delay", "status"), [("5", 400), (True, 400), (0.5, 202)])
def test_publish_delay_is_a_json_number(app: Any, client: Any, admin_headers: dict[str, str],
                                        delay: Any, status: int) -> None:
    record_deployment(app, workflows=["checkout"])
    run = client.post("/v1/runs", json={"workflowName": "checkout"},
                      headers={**admin_headers, "Idempotency-Key": f"d-{delay!r}"}).get_json()
    response = client.post("/v1/queue/publish", json={"runId": run["id"], "delaySeconds": delay},
                           headers=admin_headers)
    assert response.status_code == status, response.get_json()

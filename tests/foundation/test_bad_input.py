"""Client mistakes the reviewers found answered with 500: each is a 4xx envelope now."""

from __future__ import annotations

import json

import pytest

from tests.world_proxy.conftest import record_deployment

pytestmark = pytest.mark.both_backends
HUGE = "99999999999999999999999"


@pytest.fixture
def ready(app, client, admin_headers):
    record_deployment(app)
    return client


def trigger(client, headers, body):
    return client.post("/v1/runs", json=body,
                       headers={**headers, "Idempotency-Key": json.dumps(body)[:200]})


@pytest.mark.parametrize("value", [{"$bytes": 5}, {"$decimal": "x"}, {"$dict": [1]},
                                   {"$timedelta": 1e300}, {"$uuid": 5}, {"$datetime": "no"}])
def test_malformed_tags_are_400(ready, admin_headers, value):
    response = trigger(ready, admin_headers, {"workflowName": "checkout", "args": [value]})
    assert (response.status_code, response.json["code"]) == (400, "invalid_request")
    response = ready.post("/v1/runs/resume", json={"token": "t", "payload": value},
                          headers=admin_headers)
    assert (response.status_code, response.json["code"]) == (400, "invalid_request")


@pytest.mark.parametrize("path", [
    f"/v1/audit?cursor={HUGE}", f"/v1/deployments?cursor={HUGE}",
    f"/v1/runs/wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV/events?cursor={HUGE}",
    f"/v1/runs/wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV/streams/x?cursor={HUGE}",
])
def test_out_of_range_cursors_are_4xx(ready, admin_headers, path):
    response = ready.get(path, headers=admin_headers)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert response.json["code"]


def test_out_of_range_rate_limit_is_400(ready, admin_headers):
    for value in (10**12, 10**24):
        response = ready.post("/v1/keys", json={"name": "x", "scopes": ["admin"],
                                                "rateLimitPerMinute": value},
                              headers=admin_headers)
        assert response.status_code == 400, value


def test_deeply_nested_json_is_400(ready, admin_headers):
    response = ready.post("/v1/runs/resume", data="[" * 100_000,
                          content_type="application/json", headers=admin_headers)
    assert (response.status_code, response.json["code"]) == (400, "invalid_json")


@pytest.mark.parametrize("path", ["/v1/audit?correlation_id=%00", "/v1/runs?workflow=%00"])
def test_nul_characters_are_never_a_server_error(ready, admin_headers, path):
    # SQLite stores NUL and answers 200; PostgreSQL cannot, and that is a 400, not a 500.
    response = ready.get(path, headers=admin_headers)
    assert response.status_code in (200, 400), response.json


def test_nul_in_a_key_name_is_never_a_server_error(ready, admin_headers):
    response = ready.post("/v1/keys", json={"name": "a\u0000b", "scopes": ["admin"]},
                          headers=admin_headers)
    assert response.status_code in (201, 400), response.json

"""The real worker answers under gunicorn with the envelope and correlation id."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]


def test_health_under_gunicorn(worker, http):
    response = http.get(f"{worker.url}/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.headers["x-workflow-correlation-id"]


def test_keys_roundtrip_under_gunicorn(worker, http):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = http.post(f"{worker.url}/v1/keys", json={"name": "ci", "scopes": ["runs:read"]},
                        headers=headers)
    assert created.status_code == 201
    listed = http.get(f"{worker.url}/v1/keys", headers=headers).json()["data"]
    assert {k["name"] for k in listed} >= {"ci", "seed"}
    assert all("secret" not in k and "key_hash" not in k for k in listed)

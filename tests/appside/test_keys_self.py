"""``GET /v1/keys/self``: any valid key reads its own record, scopes included, no secret."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from workflow_studio.worker import create_app

READER_KEY = "wsk_test_reader_key_0123456789"
pytestmark = pytest.mark.both_backends


@pytest.fixture
def app(make_settings: Any) -> Any:
    return create_app(make_settings(seed_api_keys=[
        {"key": ADMIN_KEY, "scopes": ["admin"], "name": "ops"},
        {"key": READER_KEY, "scopes": ["runs:read"], "name": "reader"},
    ]))


def test_any_valid_key_reads_itself(client: Any) -> None:
    response = client.get("/v1/keys/self", headers={"Authorization": f"Bearer {READER_KEY}"})
    assert response.status_code == 200
    body = response.json
    assert (body["name"], body["scopes"], body["revokedAt"]) == ("reader", ["runs:read"], None)
    assert body["prefix"].startswith("sha:")  # an operator-chosen secret is never shown
    assert READER_KEY not in response.text and "secret" not in body and "key_hash" not in body

    admin = client.get("/v1/keys/self", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert (admin.json["name"], admin.json["scopes"]) == ("ops", ["admin"])


def test_self_needs_a_valid_key(client: Any) -> None:
    missing = client.get("/v1/keys/self")
    assert (missing.status_code, missing.json["code"]) == (401, "unauthorized")
    wrong = client.get("/v1/keys/self", headers={"Authorization": "Bearer wsk_not_a_real_key"})
    assert (wrong.status_code, wrong.json["code"]) == (401, "unauthorized")


def test_revoked_key_cannot_read_itself(client: Any) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    reader = client.get("/v1/keys/self", headers={"Authorization": f"Bearer {READER_KEY}"})
    assert client.delete(f"/v1/keys/{reader.json['id']}", headers=admin).status_code == 200
    again = client.get("/v1/keys/self", headers={"Authorization": f"Bearer {READER_KEY}"})
    assert again.status_code == 401


def test_other_key_routes_still_need_admin(client: Any) -> None:
    reader = {"Authorization": f"Bearer {READER_KEY}"}
    listed = client.get("/v1/keys", headers=reader)
    assert (listed.status_code, listed.json["code"]) == (403, "missing_scope")

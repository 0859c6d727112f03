"""Error envelope, correlation ids, audit, keys and health through the Flask test client."""

from __future__ import annotations

import logging

import pytest
from flask import Blueprint

from tests.conftest import ADMIN_KEY
from workflow_studio.worker import create_app
from workflow_studio.worker.security import public

pytestmark = pytest.mark.both_backends


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(client, admin_headers, scopes, **extra):
    response = client.post("/v1/keys", json={"name": "t", "scopes": scopes, **extra},
                           headers=admin_headers)
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/v1/nope", 404, "not_found"),
    ("DELETE", "/v1/health", 405, "method_not_allowed"),
    ("GET", "/v1/keys", 401, "unauthorized"),
])
def test_routing_and_auth_errors_use_the_envelope(client, method, path, status, code):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.json["code"] == code
    assert response.json["message"]
    assert response.headers["x-workflow-correlation-id"]


def test_bad_json_and_invalid_fields_are_400(client, admin_headers):
    response = client.post("/v1/keys", data="{oops", content_type="application/json",
                           headers=admin_headers)
    assert (response.status_code, response.json["code"]) == (400, "invalid_json")
    response = client.post("/v1/keys", json={"scopes": ["bogus"], "extra": 1},
                           headers=admin_headers)
    assert (response.status_code, response.json["code"]) == (400, "invalid_request")
    assert set(response.json["fields"]) == {"name", "scopes", "extra"}
    response = client.post("/v1/keys", data="name=x", headers=admin_headers,
                           content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.json["code"]) == (415, "unsupported_media_type")


def test_unexpected_errors_are_500_without_internals(make_settings, caplog):
    app = create_app(make_settings())
    crash = Blueprint("crash", __name__)

    @crash.get("/v1/crash")
    @public
    def boom():
        raise RuntimeError("secret internals")

    app.register_blueprint(crash)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/v1/crash",
                                         headers={"x-workflow-correlation-id": "corr-500"})
    assert response.status_code == 500
    assert response.json["code"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)
    assert response.headers["x-workflow-correlation-id"] == "corr-500"
    assert "secret internals" in caplog.text


def test_correlation_id_is_echoed_or_generated(client):
    given = client.get("/v1/health", headers={"x-workflow-correlation-id": "abc-123"})
    assert given.headers["x-workflow-correlation-id"] == "abc-123"
    made = client.get("/v1/health")
    assert len(made.headers["x-workflow-correlation-id"]) == 36
    unsafe = client.get("/v1/health", headers={"x-workflow-correlation-id": "a b\x01"})
    assert unsafe.headers["x-workflow-correlation-id"] != "a b\x01"


def test_audit_records_correlation_and_run_ids(client, admin_headers):
    client.post("/v1/keys", json={"name": "x", "scopes": ["runs:read"]},
                headers={**admin_headers, "x-workflow-correlation-id": "corr-1",
                         "x-workflow-run-id": "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    client.get("/v1/keys", headers={"x-workflow-correlation-id": "corr-1"})  # 401
    rows = client.get("/v1/audit?correlation_id=corr-1", headers=admin_headers).json["data"]
    assert [(r["method"], r["status"]) for r in rows] == [("POST", 201)]
    assert rows[0]["metadata"] == {"correlation_id": "corr-1",
                                   "run_id": "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    assert rows[0]["runId"] == "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert rows[0]["keyId"]
    # The 401 is counted in its client's row for the minute, which claims no caller's ids.
    [failed] = [r for r in client.get("/v1/audit", headers=admin_headers).json["data"]
                if r["status"] == 401]
    assert failed["keyId"] is None and failed["correlationId"] == "-"
    assert failed["runId"] is None
    assert failed["metadata"]["auth_failure"] is True and failed["metadata"]["count"] == 1


def test_reads_are_not_audited(client, admin_headers):
    client.get("/v1/keys", headers={**admin_headers, "x-workflow-correlation-id": "read-1"})
    rows = client.get("/v1/audit?correlation_id=read-1", headers=admin_headers).json["data"]
    assert rows == []


def test_audit_pages_with_a_cursor(client, admin_headers):
    for _ in range(3):
        client.delete("/v1/keys/key_nope", headers={**admin_headers,
                                                     "x-workflow-correlation-id": "page"})
    first = client.get("/v1/audit?correlation_id=page&limit=2", headers=admin_headers).json
    assert len(first["data"]) == 2 and first["hasMore"] is True
    rest = client.get(f"/v1/audit?correlation_id=page&cursor={first['cursor']}",
                      headers=admin_headers).json
    assert len(rest["data"]) == 1 and rest["hasMore"] is False


def test_key_lifecycle_and_revocation(client, admin_headers):
    created = make_key(client, admin_headers, ["runs:read"], rate_limit_per_minute=9)
    assert created["secret"].startswith("wsk_")
    assert created["rateLimitPerMinute"] == 9
    listed = client.get("/v1/keys", headers=admin_headers).json["data"]
    assert all("secret" not in k for k in listed)
    # A runs:read key reaches past auth on keys routes only to be told the scope it lacks.
    denied = client.get("/v1/keys", headers=bearer(created["secret"]))
    assert (denied.status_code, denied.json["code"], denied.json["scope"]) == (
        403, "missing_scope", "admin")
    revoked = client.delete(f"/v1/keys/{created['id']}", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json["revokedAt"]
    after = client.get("/v1/keys", headers=bearer(created["secret"]))
    assert (after.status_code, after.json["code"]) == (401, "unauthorized")
    missing = client.delete("/v1/keys/key_nope", headers=admin_headers)
    assert (missing.status_code, missing.json["code"]) == (404, "not_found")


def test_malformed_authorization_headers_are_401(client):
    for header in ("Basic abc", "Bearer", "Bearer ", ADMIN_KEY, f"Bearer {ADMIN_KEY}x"):
        response = client.get("/v1/keys", headers={"Authorization": header})
        assert (response.status_code, response.json["code"]) == (401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_seed_keys_are_stored_only_as_hashes(app, client, admin_headers, backend):
    client.get("/v1/keys", headers=admin_headers)
    if backend == "postgres":
        conn = app.extensions["workflow_studio"].db.connection()
        rows = conn.query("SELECT * FROM api_keys")
        assert rows and ADMIN_KEY not in repr(rows)
        return
    db_file = app.extensions["workflow_studio"].settings.sqlite_file
    for suffix in ("", "-wal"):
        with open(db_file + suffix, "rb") as handle:
            assert ADMIN_KEY.encode() not in handle.read()


def test_health_reports_database_unavailable(make_settings, tmp_path, backend):
    (tmp_path / "dir.db").mkdir()
    if backend == "postgres":
        app = create_app(make_settings(postgres_url="postgresql://postgres@127.0.0.1:1/test"))
    else:
        app = create_app(make_settings(sqlite_path=str(tmp_path / "dir.db")))
    response = app.test_client().get("/v1/health")
    assert (response.status_code, response.json["code"]) == (503, "database_unavailable")
    assert response.headers["Retry-After"] == "1"

"""Every route is protected by default and asks for exactly the scope it declares.

The matrix is built from the app's URL map, so a route added later is covered without
touching this file.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_KEY
from workflow_studio.compute.scopes import ALL_SCOPES
from workflow_studio.config.settings import load_settings
from workflow_studio.worker import create_app

PLACEHOLDER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
REVOKED_KEY = "<the revoked key>"
IDS = {"deployment_id": "dpl_01ARZ3NDEKTSV4RRFFQ69G5FAV",
       "run_id": "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"}


pytestmark = pytest.mark.both_backends


def build_app(tmp_path, backend_options):
    settings = load_settings(options={**backend_options,
        "sqlite_path": str(tmp_path / "m.db"), "artifact_dir": str(tmp_path / "a"),
        "rate_limit_per_minute": 0,
        "auth_failures_per_minute": 0,  # the matrix sends ~60 anonymous requests a minute
        "seed_api_keys": [{"key": ADMIN_KEY, "scopes": ["admin"]}] + [
            {"key": f"scope-key-{scope}-padding", "scopes": [scope], "name": scope}
            for scope in ALL_SCOPES],
    }, environ={})
    return create_app(settings)


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        path = PLACEHOLDER.sub(lambda m: IDS.get(m.group(1), "x"), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, view


UNAUTHORIZED = {  # credential -> the Authorization header sent
    "none": None,
    "malformed": "Token scope-key-admin-padding",   # not the Bearer scheme
    "empty": "Bearer ",
    "wrong": "Bearer wsk_not_a_key_anyone_was_given_0000",
    "revoked": f"Bearer {REVOKED_KEY}",
}


def test_matrix(tmp_path, backend_options):
    """Every protected route x {no key, malformed, empty, wrong, revoked}: 401; x every
    scope: 403 missing_scope without the route's scope, neither 401 nor 403 with it."""
    app = build_app(tmp_path, backend_options)
    client = app.test_client()
    revoked = client.post("/v1/keys", json={"name": "gone", "scopes": ["admin"]},
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    secret = revoked.json["secret"]
    assert client.delete(f"/v1/keys/{revoked.json['id']}",
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    checked = 0
    for method, path, view in routes(app):
        if getattr(view, "public", False):
            continue
        needed = getattr(view, "required_scope", "admin")
        for credential, header in UNAUTHORIZED.items():
            header = header.replace(REVOKED_KEY, secret) if header else None
            answer = client.open(path, method=method,
                                 headers={"Authorization": header} if header else {})
            assert (answer.status_code, answer.json["code"]) == (401, "unauthorized"), (
                method, path, credential)
        for scope in ALL_SCOPES:
            response = client.open(path, method=method, headers={
                "Authorization": f"Bearer scope-key-{scope}-padding"})
            allowed = needed is None or scope in (needed, "admin")  # None: any key
            if allowed:
                assert response.status_code not in (401, 403), (method, path, scope)
            else:
                assert response.status_code == 403, (method, path, scope, response.json)
                assert response.json == {
                    "code": "missing_scope", "scope": needed,
                    "message": f"This API key lacks the scope {needed!r}."}
        checked += 1
    assert checked >= 20


def test_public_routes_are_only_the_intended_ones(tmp_path, backend_options):
    app = build_app(tmp_path, backend_options)
    public = {path for method, path, view in routes(app) if getattr(view, "public", False)}
    allowed = {"/v1/health", "/v1/openapi.json", "/metrics"}
    # Provider deliveries and create_webhook() URLs: a signature is their credential.
    assert public <= allowed | {p for p in public
                                if p.startswith(("/v1/webhooks/", "/v1/hooks/"))}


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
IDS = {"deployment_id": "dpl_01ARZ3NDEKTSV4RRFFQ69G5FAV",
       "run_id": "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"}


pytestmark = pytest.mark.both_backends


def build_app(tmp_path, backend_options):
    settings = load_settings(options={**backend_options,
        "sqlite_path": str(tmp_path / "m.db"), "artifact_dir": str(tmp_path / "a"),
        "rate_limit_per_minute": 0,
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


def test_matrix(tmp_path, backend_options):
    app = build_app(tmp_path, backend_options)
    client = app.test_client()
    checked = 0
    for method, path, view in routes(app):
        if getattr(view, "public", False):
            continue
        needed = getattr(view, "required_scope", "admin")
        anonymous = client.open(path, method=method)
        assert (anonymous.status_code, anonymous.json["code"]) == (401, "unauthorized"), path
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
    assert checked >= 3


def test_public_routes_are_only_the_intended_ones(tmp_path, backend_options):
    app = build_app(tmp_path, backend_options)
    public = {path for method, path, view in routes(app) if getattr(view, "public", False)}
    allowed = {"/v1/health", "/metrics"}
    # Provider deliveries and create_webhook() URLs: a signature is their credential.
    assert public <= allowed | {p for p in public
                                if p.startswith(("/v1/webhooks/", "/v1/hooks/"))}


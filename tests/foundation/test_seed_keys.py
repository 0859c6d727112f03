"""Seed keys follow the configuration: rotation retires the old key, tools don't."""

from __future__ import annotations

import pytest

from workflow_studio.worker import create_app

pytestmark = pytest.mark.both_backends
OLD, NEW = "old-leaked-seed-key-0123", "new-rotated-seed-key-4567"


def get_keys(app, secret):
    return app.test_client().get("/v1/keys", headers={"Authorization": f"Bearer {secret}"})


def test_rotating_a_seed_revokes_the_old_key(make_settings):
    first = create_app(make_settings(seed_api_keys=[{"key": OLD, "scopes": ["admin"]}]))
    assert get_keys(first, OLD).status_code == 200
    second = create_app(make_settings(seed_api_keys=[{"key": NEW, "scopes": ["admin"]}]))
    assert get_keys(second, NEW).status_code == 200
    assert get_keys(second, OLD).status_code == 401
    listed = get_keys(second, NEW).json["data"]
    assert [k["revokedAt"] is not None for k in listed] == [True, False]


def test_tools_without_the_worker_environment_revoke_nothing(make_settings):
    worker = create_app(make_settings(seed_api_keys=[{"key": OLD, "scopes": ["admin"]}]))
    assert get_keys(worker, OLD).status_code == 200
    tool = create_app(make_settings(seed_api_keys=[]), sync_seeds=False)
    tool.extensions["workflow_studio"].db.connection()
    assert get_keys(worker, OLD).status_code == 200


def test_listed_prefix_is_never_a_piece_of_an_operator_chosen_secret(make_settings):
    app = create_app(make_settings(seed_api_keys=[{"key": OLD, "scopes": ["admin"]}]))
    (key,) = get_keys(app, OLD).json["data"]
    assert key["prefix"].startswith("sha:") and OLD[:4] not in key["prefix"]

"""The named-secret routes and their store, on the Flask test client (both databases): what
goes in, what comes out (never a value), and how values are sealed at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ADMIN_KEY
from workflow_studio.cli import cli
from workflow_studio.storage import secrets as repo
from workflow_studio.worker import create_app

pytestmark = pytest.mark.both_backends
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SECRETS_KEY = "secrets-writer-key-0123456789"
DEPLOY_KEY = "deploy-writer-key-0123456789"
VALUE = "sk_live_0123456789_the_plaintext"


@pytest.fixture
def api(make_settings: Any) -> Any:
    app = create_app(make_settings(seed_api_keys=[
        {"key": ADMIN_KEY, "scopes": ["admin"]},
        {"key": SECRETS_KEY, "scopes": ["secrets:write"], "name": "ops"},
        {"key": DEPLOY_KEY, "scopes": ["deploy:write", "deploy:read"], "name": "ci"}]))
    return app


def test_set_rotate_list_delete_and_never_a_value(api: Any) -> None:
    client = api.test_client()
    headers = {"Authorization": f"Bearer {SECRETS_KEY}"}
    created = client.put("/v1/secrets/STRIPE_KEY", json={"value": VALUE}, headers=headers)
    assert created.status_code == 201
    assert (created.json["name"], created.json["version"]) == ("STRIPE_KEY", 1)
    rotated = client.put("/v1/secrets/STRIPE_KEY", json={"value": VALUE + "2"},
                         headers=headers)
    assert (rotated.status_code, rotated.json["version"]) == (200, 2)
    assert rotated.json["createdAt"] == created.json["createdAt"]
    assert rotated.json["updatedByKeyId"] == created.json["createdByKeyId"] is not None
    listed = client.get("/v1/secrets", headers=headers)
    assert [s["name"] for s in listed.json["data"]] == ["STRIPE_KEY"]
    assert listed.json["data"][0]["readable"] is True
    deleted = client.delete("/v1/secrets/STRIPE_KEY", headers=headers)
    assert deleted.status_code == 200
    assert client.delete("/v1/secrets/STRIPE_KEY", headers=headers).json["code"] == "not_found"
    for answer in (created, rotated, listed, deleted):
        assert VALUE not in answer.get_data(as_text=True)
        assert set(answer.json) >= {"name"} or "data" in answer.json


def test_only_secrets_write_manages_them(api: Any) -> None:
    client = api.test_client()
    refused = client.put("/v1/secrets/STRIPE_KEY", json={"value": VALUE},
                         headers={"Authorization": f"Bearer {DEPLOY_KEY}"})
    assert (refused.status_code, refused.json["code"], refused.json["scope"]) == (
        403, "missing_scope", "secrets:write")
    assert client.get("/v1/secrets", headers={"Authorization": f"Bearer {DEPLOY_KEY}"}
                      ).status_code == 403
    assert client.put("/v1/secrets/STRIPE_KEY", json={"value": VALUE},
                      headers=AUTH).status_code == 201  # admin has every scope


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/secrets/1BAD", {"value": "x"}, None),
    ("/v1/secrets/has-dash", {"value": "x"}, None),
    ("/v1/secrets/" + "A" * 129, {"value": "x"}, None),
    ("/v1/secrets/OK", {"value": ""}, "value"),
    ("/v1/secrets/OK", {"value": 5}, "value"),
    ("/v1/secrets/OK", {}, "value"),
    ("/v1/secrets/OK", {"value": "x", "extra": 1}, "extra"),
    ("/v1/secrets/OK", {"value": "x" * (repo.MAX_VALUE_CHARS + 1)}, "value"),
])
def test_bad_names_and_bodies_are_400_without_echoing_the_value(
        api: Any, path: str, body: dict[str, Any], field: str | None) -> None:
    answer = api.test_client().put(path, json=body, headers=AUTH)
    assert (answer.status_code, answer.json["code"]) == (400, "invalid_request")
    if field:
        assert field in answer.json["fields"]
    if isinstance(body.get("value"), str) and len(body["value"]) > 2:
        assert body["value"][:50] not in answer.get_data(as_text=True)


def test_values_are_sealed_under_the_worker_secret_and_bound_to_their_name(
        make_database: Any) -> None:
    conn = make_database().connection()
    box = repo.SecretBox("the-worker-secret-0123")
    repo.put(conn, box, "A", VALUE, None)
    repo.put(conn, box, "B", "other value", None)
    raw = conn.query_one("SELECT nonce, ciphertext, key_id FROM secrets WHERE name = 'A'")
    assert raw is not None and VALUE.encode() not in bytes(raw["ciphertext"])
    assert repo.read(conn, box, "A") == VALUE
    assert repo.read(conn, box, "MISSING") is None
    # A ciphertext copied onto another name does not open there.
    with conn.transaction():
        conn.execute("UPDATE secrets SET nonce = ?, ciphertext = ? WHERE name = 'B'",
                     (bytes(raw["nonce"]), bytes(raw["ciphertext"])))
    with pytest.raises(repo.SecretSealedElsewhere, match="stored bytes were altered"):
        repo.read(conn, box, "B")
    # Another worker secret (WORKFLOW_SECRET_KEY changed): reported as such.
    with pytest.raises(repo.SecretSealedElsewhere, match="another worker secret"):
        repo.read(conn, repo.SecretBox("another-worker-secret-0"), "A")
    assert repo.missing(conn, ["A", "B", "C"]) == ["C"]


def test_the_local_cli_and_the_worker_share_the_key(tmp_path: Path, make_settings: Any,
                                                    backend_options: dict[str, Any]) -> None:
    """`secrets set` without --url writes the local database; the worker (same settings, a
    generated worker secret in that database) reads what it wrote."""
    settings = make_settings()
    config = tmp_path / "workflow_config.py"
    storage = {"sqlite_path": settings.sqlite_path, **{
        k: v for k, v in backend_options.items()}}
    config.write_text("from workflow_studio import define_config\n"
                      f"config = define_config(worker={{'storage': {storage!r}}})\n")
    runner = CliRunner()
    done = runner.invoke(cli, ["--config", str(config), "secrets", "set", "LOCAL_KEY"],
                         input=VALUE + "\n")
    assert done.exit_code == 0, done.output
    assert VALUE not in done.output
    listed = runner.invoke(cli, ["--config", str(config), "secrets", "list", "--json"])
    assert '"name": "LOCAL_KEY"' in listed.output and VALUE not in listed.output
    app = create_app(settings)
    store = app.extensions["workflow_studio.named_secrets"]
    assert store.read("LOCAL_KEY") == VALUE
    assert runner.invoke(cli, ["--config", str(config), "secrets", "delete", "LOCAL_KEY"]
                         ).exit_code == 0
    assert store.read("LOCAL_KEY") is None

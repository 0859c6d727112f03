"""Named secrets for deployed steps: set (create or rotate), list, delete. No route answers
with a value: they go in once, sealed (``storage.secrets``), and come out only to a step's
``ws.secret(name)`` (``deployments.secrets.SecretStore``).

Audit rows of these routes carry the route and the path (so the name), never the body; the
error texts of a bad body say what is wrong with it without quoting it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g

from workflow_studio.compute.clock import iso
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.manifest import SECRET_NAME
from workflow_studio.compute.scopes import Scope
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import secrets as repo
from workflow_studio.worker.context import EXTENSION, WorkerState, conn
from workflow_studio.worker.deployments.secrets import SecretStore
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body, query_args
from workflow_studio.worker.schemas.secrets import DeleteSecretQuerySchema, SetSecretSchema
from workflow_studio.worker.security import requires

bp = Blueprint("secrets", __name__)
STORE = "workflow_studio.named_secrets"
_set = SetSecretSchema()
_delete_query = DeleteSecretQuerySchema()


def init_app(app: Flask) -> None:
    """Give the app its store and the loader its source: the deployments' steps read
    through the same store the routes write with."""
    worker: WorkerState = app.extensions[EXTENSION]
    store = SecretStore(worker.db, worker.settings.secret_key, worker.runtime.redactor)
    app.extensions[STORE] = store
    worker.loader.secrets = store


def _store() -> SecretStore:
    store: SecretStore = current_app.extensions[STORE]
    return store


def _name(value: str) -> str:
    if not SECRET_NAME.match(value):
        raise ApiError(ErrorCode.INVALID_REQUEST,
                       "A secret's name is 1-128 letters, digits and underscores, not "
                       "starting with a digit.")
    return value


def secret_json(row: dict[str, Any], key_id: str, declared: set[str]) -> dict[str, Any]:
    return {"name": row["name"], "version": row["version"],
            "createdAt": iso(row["created_at"]), "createdByKeyId": row["created_by_key_id"],
            "updatedAt": iso(row["updated_at"]), "updatedByKeyId": row["updated_by_key_id"],
            "readable": row["key_id"] == key_id, "declaredByActive": row["name"] in declared}


def _declared() -> set[str]:
    active = deployments_repo.active_secret_names(conn())
    return set(active[2]) if active is not None else set()


@bp.put("/v1/secrets/<name>")
@requires(Scope.SECRETS_WRITE)
def set_secret(name: str) -> Any:
    name = _name(name)
    value = json_body(_set)["value"]
    box = _store().box(conn())
    row, created = repo.put(conn(), box, name, value, g.get("key_id"))
    return secret_json(row, box.key_id, _declared()), 201 if created else 200


@bp.get("/v1/secrets")
@requires(Scope.SECRETS_WRITE)
def list_secrets() -> Any:
    key_id, declared = _store().box(conn()).key_id, _declared()
    return {"data": [secret_json(r, key_id, declared) for r in repo.list_secrets(conn())]}


@bp.delete("/v1/secrets/<name>")
@requires(Scope.SECRETS_WRITE)
def delete_secret(name: str) -> Any:
    name = _name(name)
    force = query_args(_delete_query)["force"]
    try:
        row = repo.delete(conn(), name, force=force)
    except repo.SecretInUse as exc:
        raise ApiError(ErrorCode.SECRET_IN_USE,
                       f"Secret {name!r} is declared by the active deployment "
                       f"{exc.deployment_id} (version {exc.version}); its steps read it. "
                       "Activate a deployment that does not declare it first, or delete "
                       "with force=true.", deploymentId=exc.deployment_id) from None
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No secret named {name!r}.")
    return secret_json(row, _store().box(conn()).key_id, _declared())

"""Operator API for keys: create (secret shown once), list (no secrets), revoke.

``GET /v1/keys/self`` lets any valid key read its own record (scopes included), so a caller
such as ``compute validate-ownership`` can check an app key's scopes without admin.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from workflow_studio.compute.clock import iso
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.scopes import Scope
from workflow_studio.storage import keys as keys_repo
from workflow_studio.worker.context import conn
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body
from workflow_studio.worker.schemas.common import CreateKeySchema
from workflow_studio.worker.security import authenticated, requires

bp = Blueprint("keys", __name__)
_create = CreateKeySchema()


def key_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "prefix": row["prefix"],
        "scopes": row["scopes"], "rateLimitPerMinute": row["rate_limit_per_minute"],
        "source": row["source"], "createdAt": iso(row["created_at"]),
        "lastUsedAt": iso(row["last_used_at"]), "revokedAt": iso(row["revoked_at"]),
    }


@bp.post("/v1/keys")
@requires(Scope.ADMIN)
def create_key() -> Any:
    data = json_body(_create)
    with conn().transaction():
        record, secret = keys_repo.create(conn(), data["name"], data["scopes"],
                                          rate_limit_per_minute=data["rateLimitPerMinute"])
    return {**key_json(record), "secret": secret}, 201


@bp.get("/v1/keys")
@requires(Scope.ADMIN)
def list_keys() -> Any:
    return {"data": [key_json(r) for r in keys_repo.list_keys(conn())]}


@bp.get("/v1/keys/self")
@authenticated
def current_key() -> Any:
    record = keys_repo.get(conn(), g.key_id)
    if record is None:  # revoked and deleted between authentication and here
        raise ApiError(ErrorCode.NOT_FOUND, "This API key no longer exists.")
    return key_json(record)


@bp.delete("/v1/keys/<key_id>")
@requires(Scope.ADMIN)
def revoke_key(key_id: str) -> Any:
    record = keys_repo.revoke(conn(), key_id)
    if record is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No API key with id {key_id!r}.")
    return key_json(record)

"""Schemas of the named-secret routes: what ``PUT /v1/secrets/<name>`` and ``DELETE`` take,
and what every secret route answers (metadata only: no route ever returns a value)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflow_studio.storage.secrets import MAX_VALUE_CHARS
from workflow_studio.worker.schemas.responses import Answer


class SetSecretSchema(Schema):
    """``PUT /v1/secrets/<name>``: the value, stored encrypted and never returned."""

    value = fields.String(required=True, validate=validate.Length(min=1, max=MAX_VALUE_CHARS),
                          metadata={"description": "the secret's value (at most "
                                                   f"{MAX_VALUE_CHARS} characters); "
                                                   "write-only: never returned",
                                    "writeOnly": True})


class DeleteSecretQuerySchema(Schema):
    force = fields.Boolean(load_default=False, metadata={
        "description": "delete even when the active deployment declares it"})


class SecretSchema(Answer):
    name = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "1, then +1 per set"})
    createdAt = fields.DateTime(required=True)
    createdByKeyId = fields.String(required=True, allow_none=True)
    updatedAt = fields.DateTime(required=True)
    updatedByKeyId = fields.String(required=True, allow_none=True)
    readable = fields.Boolean(required=True, metadata={
        "description": "sealed under this worker's current secret (false: set it again)"})
    declaredByActive = fields.Boolean(required=True, metadata={
        "description": "the active deployment declares it (delete needs force)"})


class SecretListSchema(Answer):
    data = fields.List(fields.Nested(SecretSchema), required=True)

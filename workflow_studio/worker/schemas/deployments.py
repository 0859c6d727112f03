"""Schemas of the deployment routes, shared by the worker (validation) and the client.

Upload settings arrive as multipart form fields (strings), so the numeric fields here parse
strings too; camelCase names match the JSON the routes return.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflow_studio.worker.schemas.common import MAX_CURSOR, MAX_PAGE

DEFAULT_RETRIES = 3
UPLOAD_PARTS = ("manifest", "artifact")


class DeploymentSettingsSchema(Schema):
    """Optional per-deployment settings sent with ``POST /v1/deployments``."""

    concurrency = fields.Integer(load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=100_000))
    stepTimeout = fields.Float(load_default=None, allow_none=True,
                               validate=validate.Range(min=0, min_inclusive=False,
                                                       max=7 * 24 * 3600),
                               metadata={"exclusiveMinimum": 0})  # apispec drops min_inclusive
    defaultRetries = fields.Integer(load_default=DEFAULT_RETRIES,
                                    validate=validate.Range(min=0, max=1000))


class DeploymentListQuerySchema(Schema):
    """``GET /v1/deployments``: newest first; ``cursor`` is the last version already seen."""

    cursor = fields.Integer(load_default=None, allow_none=True,
                            validate=validate.Range(min=1, max=MAX_CURSOR))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class UploadSchema(DeploymentSettingsSchema):
    """The multipart parts of ``POST /v1/deployments`` (documentation: the route reads the
    parts itself, streaming the artifact, and loads the settings above)."""

    manifest = fields.Raw(required=True, metadata={
        "type": "string", "format": "binary", "description": "manifest.json of the build"})
    artifact = fields.Raw(required=True, metadata={
        "type": "string", "format": "binary", "description": "the build's .tar.gz"})

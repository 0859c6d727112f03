"""Schemas of what the routes answer, for the OpenAPI document (``worker.openapi``) only.

The routes render their JSON by hand (``engine.render``, ``key_json``, ``deployment_json``);
these schemas describe that JSON so the published contract states each object's fields and
schemathesis checks every answer against them. Objects stay open (unknown fields are
allowed): a new field is not a breaking change. Fields marked ``required`` are always
present; ``allow_none`` ones may be ``null``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from workflow_studio.compute.runs import RUN_STATUSES
from workflow_studio.compute.scopes import ALL_SCOPES


def _str(**kw: Any) -> fields.String:
    return fields.String(required=True, **kw)


def _opt_str(**kw: Any) -> fields.String:
    return fields.String(required=True, allow_none=True, **kw)


def _int(**kw: Any) -> fields.Integer:
    return fields.Integer(required=True, **kw)


def _time(nullable: bool = False) -> fields.DateTime:
    return fields.DateTime(required=True, allow_none=nullable)


def _any(**kw: Any) -> fields.Raw:
    return fields.Raw(required=True, allow_none=True, **kw)


def _bool() -> fields.Boolean:
    return fields.Boolean(required=True)


class Answer(Schema):
    """Base of the response schemas: documented fields, others allowed."""

    class Meta:
        unknown = EXCLUDE  # apispec: no ``additionalProperties: false``


class HealthSchema(Answer):
    status = _str()
    version = _str()
    database = _str()
    activeDeployment = fields.Dict(required=True, allow_none=True,
                                   metadata={"description": "{id, version} or null"})


# -- runs -------------------------------------------------------------------------------
class RunSummarySchema(Answer):
    """A run without its input and output (lists)."""

    id = _str(metadata={"example": "wrun_01JAY3RZ6V4J8S3Q2W0C4E5K7M"})
    workflowName = _str()
    status = _str(validate=validate.OneOf(RUN_STATUSES))
    deploymentId = _opt_str()
    triggerType = _str()
    waitingOn = _any(metadata={"description": "what a parked run waits for"})
    error = _any(metadata={"description": "{code, message, ...} of a failed run"})
    createdAt = _time()
    startedAt = _time(nullable=True)
    completedAt = _time(nullable=True)
    updatedAt = _time(nullable=True)
    scheduleId = _opt_str(metadata={"description": "the schedule that started it"})
    scheduledAt = _time(nullable=True)  # its tick; null for a schedule's "fire now"


class RunSchema(RunSummarySchema):
    """A run with its input and output, as tagged JSON."""

    input = _any()
    output = _any()


class RunSummaryPageSchema(Answer):
    data = fields.List(fields.Nested(RunSummarySchema), required=True)
    cursor = _any(metadata={"description": "pass back for the next page; null at the end"})
    hasMore = _bool()


class StepSchema(Answer):
    id = _str()
    runId = _str()
    position = _int()
    stepName = _str()
    status = _str()
    attempt = _int()
    input = _any()
    output = _any()
    error = _any()
    retryAt = _time(nullable=True)
    createdAt = _time(nullable=True)
    startedAt = _time(nullable=True)
    completedAt = _time(nullable=True)


class StepPageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(StepSchema), required=True)


class EventSchema(Answer):
    id = _str()
    position = _int()
    runId = _str()
    eventType = _str()
    correlationId = _opt_str()
    payload = _any()
    createdAt = _time()


class EventPageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(EventSchema), required=True)


class ChunkSchema(Answer):
    position = _int()
    data = _any()
    done = _bool()
    createdAt = _time()


class RunStreamSchema(Answer):
    """``GET /v1/runs/:id/streams/:name``: chunks after ``cursor``."""

    data = fields.List(fields.Nested(ChunkSchema), required=True)
    cursor = _int()
    done = _bool()
    runStatus = _str(validate=validate.OneOf(RUN_STATUSES))


class ResumedSchema(Answer):
    hookId = _str()
    runId = _str()
    status = _str(validate=validate.Equal("resumed"))


# -- keys and audit ---------------------------------------------------------------------
class KeySchema(Answer):
    id = _str()
    name = _str()
    prefix = _str()
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)), required=True)
    rateLimitPerMinute = fields.Integer(required=True, allow_none=True)
    source = _str()
    createdAt = _time()
    lastUsedAt = _time(nullable=True)
    revokedAt = _time(nullable=True)


class CreatedKeySchema(KeySchema):
    secret = _str(metadata={"description": "shown once; only its SHA-256 is stored"})


class KeyListSchema(Answer):
    data = fields.List(fields.Nested(KeySchema), required=True)


class AuditEntrySchema(Answer):
    id = _int()
    createdAt = _time()
    keyId = _opt_str()
    method = _str()
    route = _str()
    path = _str()
    status = _int()
    correlationId = _opt_str()
    runId = _opt_str()
    metadata = _any()


class AuditPageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(AuditEntrySchema), required=True)


# -- deployments ------------------------------------------------------------------------
class DeploymentSettingsOutSchema(Answer):
    concurrency = fields.Integer(required=True, allow_none=True)
    stepTimeout = fields.Float(required=True, allow_none=True)
    defaultRetries = _int()


class DeploymentSchema(Answer):
    id = _str()
    version = _int()
    status = _str()
    active = _bool()
    artifactSha256 = _str()
    artifactSize = _int()
    workflows = fields.List(fields.String(), required=True)
    steps = fields.List(fields.String(), required=True)
    modules = fields.List(fields.String(), required=True)
    pythonVersion = _opt_str()
    builtAt = _opt_str()
    distributions = fields.List(fields.Dict(), metadata={
        "description": "the third-party packages it ships: {name, version}"})
    secrets = fields.List(fields.Dict(), metadata={
        "description": "the named secrets its steps read: {name, asEnv}"})
    settings = fields.Nested(DeploymentSettingsOutSchema, required=True)
    createdAt = _time()
    createdByKeyId = _opt_str()
    activatedAt = _time(nullable=True)
    activatedByKeyId = _opt_str()


class ActiveDeploymentSchema(DeploymentSchema):
    previousDeploymentId = _opt_str()


class DeploymentPageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(DeploymentSchema), required=True)


# -- webhooks ---------------------------------------------------------------------------
class WebhookReceiptSchema(Answer):
    received = _bool()
    duplicate = _bool()
    deliveryId = _str()
    handled = fields.Boolean()
    runs = fields.List(fields.String(), metadata={"description": "runs the handler started"})
    resumed = fields.List(fields.String(), metadata={"description": "runs it resumed"})
    result = fields.Raw(metadata={"description": "what the handler returned, if JSON"})


# -- world proxy ------------------------------------------------------------------------
class HookSchema(Answer):
    id = _str()
    runId = _str()
    position = _int()
    token = _str()
    status = _str()
    metadata = _any()
    payload = _any()
    disposed = _bool()
    createdAt = _time(nullable=True)
    receivedAt = _time(nullable=True)
    disposedAt = _time(nullable=True)


class HookPageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(HookSchema), required=True)


class WaitSchema(Answer):
    id = _str()
    runId = _str()
    position = _int()
    status = _str()
    resumeAt = _any()


class EventWrittenSchema(Answer):
    """``events/create``: the event, every event it wrote, and the entity it changed
    (exactly one of ``run``, ``step``, ``hook``, ``wait``)."""

    event = fields.Nested(EventSchema, required=True, allow_none=True)
    events = fields.List(fields.Nested(EventSchema), required=True)
    run = fields.Nested(RunSchema)
    step = fields.Nested(StepSchema)
    hook = fields.Nested(HookSchema)
    wait = fields.Nested(WaitSchema)


class QueuedSchema(Answer):
    runId = _str()
    queued = _bool()
    visibleAt = _time()


class DeploymentIdSchema(Answer):
    deploymentId = _str()


class StreamInfoSchema(Answer):
    runId = _str()
    name = _str()
    chunks = _int()
    lastPosition = fields.Integer(required=True, allow_none=True)
    closed = _bool()


class StreamWrittenSchema(StreamInfoSchema):
    written = _int()


class ChunkPageSchema(RunStreamSchema):
    hasMore = _bool()


class StreamNamesSchema(RunSummaryPageSchema):
    data = fields.List(fields.String(), required=True)


class EncryptionKeyOutSchema(Answer):
    runId = _str()
    key = _str(metadata={"description": "256-bit key, base64url; derived per run with HKDF"})
    encoding = _str()
    bits = _int()
    derivation = _str()


class OpenApiDocumentSchema(Answer):
    openapi = _str()
    info = fields.Dict(required=True)
    paths = fields.Dict(required=True)

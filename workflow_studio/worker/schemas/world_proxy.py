"""Schemas of the world-proxy API (``/v1/world/*``, ``/v1/queue/publish``): what a remote
world sends. Lists share ``{limit <= 1000, cursor, sortOrder}`` and answer
``{data, cursor, hasMore}``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflow_studio.worker.schemas.common import MAX_CURSOR, MAX_PAGE

SORT_ORDERS = ("asc", "desc")


class PageSchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.Raw(load_default=None, allow_none=True)
    sortOrder = fields.String(load_default="asc", validate=validate.OneOf(SORT_ORDERS))


class RunsListSchema(PageSchema):
    sortOrder = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    status = fields.String(load_default=None, allow_none=True)
    workflowName = fields.String(load_default=None, allow_none=True)
    deploymentId = fields.String(load_default=None, allow_none=True)


class RunPageSchema(PageSchema):
    runId = fields.String(required=True)


class CorrelationPageSchema(PageSchema):
    correlationId = fields.String(required=True, validate=validate.Length(min=1))


class HooksListSchema(PageSchema):
    runId = fields.String(load_default=None, allow_none=True)


class CreateEventSchema(Schema):
    runId = fields.String(load_default=None, allow_none=True)
    eventType = fields.String(required=True)
    correlationId = fields.String(load_default=None, allow_none=True)
    eventData = fields.Dict(keys=fields.String(), load_default=dict)


class PublishSchema(Schema):
    runId = fields.String(load_default=None, allow_none=True)
    queueName = fields.String(load_default=None, allow_none=True)
    message = fields.Dict(load_default=None, allow_none=True)
    delaySeconds = fields.Float(load_default=0, validate=validate.Range(min=0, max=86400 * 7))


class StreamWriteSchema(Schema):
    runId = fields.String(required=True)
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=200))
    chunk = fields.Raw(load_default=None, allow_none=True)
    chunks = fields.List(fields.Raw(allow_none=True), load_default=None, allow_none=True)


class StreamCloseSchema(Schema):
    runId = fields.String(required=True)
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=200))


class StreamReadQuerySchema(Schema):
    runId = fields.String(required=True)
    name = fields.String(load_default="default")
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_PAGE))


class StreamListQuerySchema(Schema):
    runId = fields.String(required=True)


class EncryptionKeySchema(Schema):
    runId = fields.String(required=True)

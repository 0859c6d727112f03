"""Schemas of the world-proxy API (``/v1/world/*``, ``/v1/queue/publish``): what a remote
world sends. Lists share ``{limit <= 1000, cursor, sortOrder}`` and answer
``{data, cursor, hasMore}``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from marshmallow import Schema, fields, validate

from workflow_studio.compute.ids import id_pattern
from workflow_studio.worker.schemas.common import MAX_CURSOR, MAX_PAGE, JsonInteger, JsonNumber

SORT_ORDERS = ("asc", "desc")
# What the routes accept as ``cursor`` (they check it themselves): the previous page's cursor,
# a position (events, steps: an integer, or its digits) or an id (runs, hooks: a string).
_POSITION_CURSOR = MappingProxyType({"anyOf": (
    {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR},
    {"type": "string", "pattern": "^[0-9]{1,18}$"}, {"type": "null"})})
_ID_CURSOR = MappingProxyType({"type": "string"})  # allow_none adds "null"
# A run id the routes check themselves (400 invalid_run_id), documented as its pattern.
_RUN_ID = MappingProxyType({"pattern": id_pattern("wrun")})


def _cursor(kind: Mapping[str, object]) -> fields.Raw:
    metadata = {k: list(v) if isinstance(v, tuple) else v for k, v in kind.items()}
    return fields.Raw(load_default=None, allow_none=True, metadata=metadata)


class PageSchema(Schema):
    limit = JsonInteger(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.Raw(load_default=None, allow_none=True)
    sortOrder = fields.String(load_default="asc", validate=validate.OneOf(SORT_ORDERS))


class RunsListSchema(PageSchema):
    cursor = _cursor(_ID_CURSOR)
    sortOrder = fields.String(load_default="desc", validate=validate.OneOf(SORT_ORDERS))
    status = fields.String(load_default=None, allow_none=True)
    workflowName = fields.String(load_default=None, allow_none=True)
    deploymentId = fields.String(load_default=None, allow_none=True)


class RunPageSchema(PageSchema):
    cursor = _cursor(_POSITION_CURSOR)
    runId = fields.String(required=True, metadata=dict(_RUN_ID))


class CorrelationPageSchema(PageSchema):
    cursor = _cursor(_POSITION_CURSOR)
    correlationId = fields.String(required=True, validate=validate.Length(min=1))


class HooksListSchema(PageSchema):
    cursor = _cursor(_ID_CURSOR)
    runId = fields.String(load_default=None, allow_none=True, metadata=dict(_RUN_ID))


class CreateEventSchema(Schema):
    runId = fields.String(load_default=None, allow_none=True, metadata=dict(_RUN_ID))
    eventType = fields.String(required=True)
    correlationId = fields.String(load_default=None, allow_none=True)
    eventData = fields.Dict(keys=fields.String(), load_default=dict)


class PublishSchema(Schema):
    runId = fields.String(load_default=None, allow_none=True, metadata=dict(_RUN_ID))
    queueName = fields.String(load_default=None, allow_none=True)
    message = fields.Dict(load_default=None, allow_none=True)
    delaySeconds = JsonNumber(load_default=0, validate=validate.Range(min=0, max=86400 * 7))


class StreamWriteSchema(Schema):
    runId = fields.String(required=True, metadata=dict(_RUN_ID))
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=200))
    chunk = fields.Raw(load_default=None, allow_none=True)
    chunks = fields.List(fields.Raw(allow_none=True), load_default=None, allow_none=True)


class StreamCloseSchema(Schema):
    runId = fields.String(required=True, metadata=dict(_RUN_ID))
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=200))


class StreamReadQuerySchema(Schema):
    runId = fields.String(required=True, metadata=dict(_RUN_ID))
    name = fields.String(load_default="default")
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_PAGE))


class StreamListQuerySchema(Schema):
    runId = fields.String(required=True, metadata=dict(_RUN_ID))


class EncryptionKeySchema(Schema):
    runId = fields.String(required=True, metadata=dict(_RUN_ID))

"""Schemas of the runs API (``/v1/runs``): trigger, resume, list and long-poll parameters."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflow_studio.compute.ids import id_pattern
from workflow_studio.compute.runs import MAX_WAIT_SECONDS, RUN_STATUSES, TRIGGER_TYPES
from workflow_studio.worker.schemas.common import MAX_CURSOR, MAX_PAGE


class TriggerRunSchema(Schema):
    workflowName = fields.String(required=True, validate=validate.Length(min=1, max=200))
    args = fields.List(fields.Raw(allow_none=True), load_default=list)
    kwargs = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                         load_default=dict)
    deploymentId = fields.String(load_default=None, allow_none=True)


class TriggerQuerySchema(Schema):
    """``POST /v1/runs?wait=S``: also wait up to S seconds for the run to end."""

    wait = fields.Float(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT_SECONDS))


class ResumeHookSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500))
    payload = fields.Raw(load_default=None, allow_none=True)


class GetRunQuerySchema(Schema):
    wait = fields.Float(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT_SECONDS))


class ListRunsQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(RUN_STATUSES))
    workflow = fields.String(load_default=None)
    triggerType = fields.String(load_default=None, validate=validate.OneOf(TRIGGER_TYPES))
    createdFrom = fields.DateTime(load_default=None)
    createdTo = fields.DateTime(load_default=None)
    scheduleId = fields.String(load_default=None, validate=validate.Regexp(id_pattern("sch")),
                               metadata={"description": "runs a schedule started"})
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class PageQuerySchema(Schema):
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_PAGE))

"""Schemas of the schedules API (``/v1/schedules``): what the routes load, and what they
answer (for the OpenAPI document).

The schemas check shapes and bounds; what only the engine can judge (a cron expression, a
time zone, a spec with neither crons nor an interval) is 400 ``invalid_schedule`` naming
the field (``engine.schedules.service``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from workflow_studio.compute import schedules as vocabulary
from workflow_studio.compute.ids import id_pattern
from workflow_studio.compute.runs import RUN_STATUSES
from workflow_studio.worker.schemas.common import MAX_PAGE, JsonInteger
from workflow_studio.worker.schemas.responses import (
    Answer,
    RunSchema,
    RunSummaryPageSchema,
)

_NAME = validate.Regexp(vocabulary.NAME_PATTERN)
_DPL = validate.Regexp(id_pattern("dpl"))
REF_PATTERN = vocabulary.NAME_PATTERN  # ids (sch_...) match it too


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` in a JSON body; never ``"true"``, ``1`` or ``"yes"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _int(low: int, high: int, **kw: Any) -> JsonInteger:
    return JsonInteger(validate=validate.Range(min=low, max=high), **kw)


class _Definition(Schema):
    """The fields a schedule is made of; ``CreateScheduleSchema`` requires two of them."""

    name = fields.String(validate=_NAME, metadata={"example": "nightly-report"})
    workflowName = fields.String(validate=validate.Length(min=1, max=200))
    args = fields.List(fields.Raw(allow_none=True))
    kwargs = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    cron = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                       validate=validate.Length(max=vocabulary.MAX_CRONS), allow_none=True,
                       metadata={
                           "description": "5 fields, or 6 with a leading seconds field; "
                                          "@daily and the like", "example": ["0 3 * * *"]})
    intervalSeconds = _int(1, vocabulary.MAX_INTERVAL_SECONDS, allow_none=True)
    phaseSeconds = _int(0, vocabulary.MAX_INTERVAL_SECONDS - 1, allow_none=True)
    timezone = fields.String(validate=validate.Length(min=1, max=64),
                             metadata={"example": "Europe/Berlin"})
    startAt = fields.DateTime(allow_none=True)
    endAt = fields.DateTime(allow_none=True)
    jitterSeconds = _int(0, vocabulary.MAX_JITTER_SECONDS, allow_none=True)
    overlap = fields.String(validate=validate.OneOf(vocabulary.OVERLAP_POLICIES))
    catchup = fields.String(validate=validate.OneOf(vocabulary.CATCHUP_POLICIES))
    catchupWindowSeconds = _int(1, vocabulary.MAX_WINDOW_SECONDS)
    maxCatchup = _int(1, vocabulary.MAX_CATCHUP_LIMIT)
    remainingActions = _int(0, 2**31 - 1, allow_none=True)
    deploymentId = fields.String(allow_none=True, validate=_DPL)


class CreateScheduleSchema(_Definition):
    name = fields.String(required=True, validate=_NAME,
                         metadata={"example": "nightly-report"})
    workflowName = fields.String(required=True, validate=validate.Length(min=1, max=200))
    paused = JsonBoolean()
    pauseNote = fields.String(allow_none=True, validate=validate.Length(max=1000))


class PatchScheduleSchema(_Definition):
    """Fields given replace the stored ones; ``null`` clears an optional one."""


class PauseSchema(Schema):
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=1000))


class ResumeScheduleSchema(Schema):
    """No fields: a body, if any, must be an empty object."""


class TriggerScheduleSchema(Schema):
    overlap = fields.String(load_default="allow_all",
                            validate=validate.OneOf(vocabulary.TRIGGER_OVERLAP))


class BackfillSchema(Schema):
    from_ = fields.DateTime(required=True, data_key="from")
    to = fields.DateTime(required=True)
    overlap = fields.String(load_default=None, allow_none=True,
                            validate=validate.OneOf(vocabulary.OVERLAP_POLICIES))
    dryRun = JsonBoolean(load_default=False)


class ScheduleListQuerySchema(Schema):
    source = fields.String(load_default=None, validate=validate.OneOf(vocabulary.SOURCES))
    paused = fields.Boolean(load_default=None)
    workflow = fields.String(load_default=None, validate=validate.Length(max=200))
    cursor = fields.String(load_default=None, validate=validate.Regexp(id_pattern("sch")))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class ScheduleQuerySchema(Schema):
    ticks = fields.Integer(load_default=20, validate=validate.Range(min=0, max=100),
                           metadata={"description": "how many of the newest ticks to show"})


class PreviewQuerySchema(Schema):
    count = fields.Integer(load_default=10,
                           validate=validate.Range(min=1, max=vocabulary.MAX_PREVIEW))


# -- answers ----------------------------------------------------------------------------
class ScheduleSchema(Answer):
    """A schedule: its definition and where it stands."""

    id = fields.String(required=True, metadata={"example": "sch_01JAY3RZ6V4J8S3Q2W0C4E5K7M"})
    name = fields.String(required=True)
    workflowName = fields.String(required=True)
    args = fields.List(fields.Raw(allow_none=True), required=True)
    kwargs = fields.Dict(required=True)
    cron = fields.List(fields.String(), required=True)
    intervalSeconds = fields.Integer(required=True, allow_none=True)
    phaseSeconds = fields.Integer(required=True, allow_none=True)
    timezone = fields.String(required=True)
    startAt = fields.DateTime(required=True, allow_none=True)
    endAt = fields.DateTime(required=True, allow_none=True)
    jitterSeconds = fields.Integer(required=True)
    description = fields.String(required=True, metadata={"description": "the spec in words"})
    overlap = fields.String(required=True, validate=validate.OneOf(vocabulary.OVERLAP_POLICIES))
    catchup = fields.String(required=True, validate=validate.OneOf(vocabulary.CATCHUP_POLICIES))
    catchupWindowSeconds = fields.Integer(required=True)
    maxCatchup = fields.Integer(required=True)
    paused = fields.Boolean(required=True)
    pauseNote = fields.String(required=True, allow_none=True)
    pausedBy = fields.String(required=True, allow_none=True)
    pausedAt = fields.DateTime(required=True, allow_none=True)
    remainingActions = fields.Integer(required=True, allow_none=True)
    deploymentId = fields.String(required=True, allow_none=True)
    source = fields.String(required=True, validate=validate.OneOf(vocabulary.SOURCES))
    configDeploymentId = fields.String(required=True, allow_none=True)
    nextTickAt = fields.DateTime(required=True, allow_none=True)
    nextFireAt = fields.DateTime(required=True, allow_none=True, metadata={
        "description": "the next tick plus its jitter; null while paused or when no tick "
                       "is left"})
    buffered = fields.Integer(required=True)
    createdBy = fields.String(required=True, allow_none=True)
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)


class TickSchema(Answer):
    """What became of a tick (or of a run of skipped ticks, ``untilAt`` and ``count``)."""

    scheduledAt = fields.DateTime(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(vocabulary.TICK_OUTCOMES))
    reason = fields.String(required=True, allow_none=True)
    runId = fields.String(required=True, allow_none=True)
    runStatus = fields.String(required=True, allow_none=True,
                              validate=validate.OneOf(RUN_STATUSES))
    source = fields.String(required=True)
    untilAt = fields.DateTime(required=True, allow_none=True)
    count = fields.Integer(required=True, allow_none=True, metadata={
        "description": "ticks this row stands for; null: more than 10,000"})
    recordedAt = fields.DateTime(required=True)


class ScheduleDetailSchema(ScheduleSchema):
    """A schedule with its newest ticks and their runs."""

    recentTicks = fields.List(fields.Nested(TickSchema), required=True)


class SchedulePageSchema(RunSummaryPageSchema):
    data = fields.List(fields.Nested(ScheduleSchema), required=True)


class DeletedScheduleSchema(Answer):
    id = fields.String(required=True)
    name = fields.String(required=True)
    deleted = fields.Boolean(required=True)


class TriggeredSchema(Answer):
    """``trigger``: the run it started, or why it started none."""

    outcome = fields.String(required=True, validate=validate.OneOf(vocabulary.TICK_OUTCOMES))
    run = fields.Nested(RunSchema, required=True, allow_none=True)


class BackfilledTickSchema(Answer):
    scheduledAt = fields.DateTime(required=True)
    outcome = fields.String(required=True, metadata={
        "description": "fired, buffered, skipped_overlap, start_failed, already_decided; "
                       "a dry run: would_fire or already_decided"})
    runId = fields.String(required=True, allow_none=True)


class BackfillResultSchema(Answer):
    """The ticks in the range and what became (or, in a dry run, would become) of each."""

    dryRun = fields.Boolean(required=True)
    overlap = fields.String(required=True)
    ticks = fields.List(fields.Nested(BackfilledTickSchema), required=True)


class FireTimeSchema(Answer):
    scheduledAt = fields.DateTime(required=True)
    local = fields.String(required=True, metadata={
        "description": "the same instant in the schedule's zone, with its offset"})
    fireAt = fields.DateTime(required=True, metadata={"description": "plus the jitter"})


class PreviewSchema(Answer):
    """The next fire times (fewer when the spec ends)."""

    timezone = fields.String(required=True)
    fireTimes = fields.List(fields.Nested(FireTimeSchema), required=True)

"""The schedules API: create, list, read (with the newest ticks), change, delete, pause,
resume, trigger (fire now), backfill and preview.

Views parse and render; ``engine.schedules`` decides (``service`` for definitions,
``firing`` for anything that starts runs). ``schedule_id`` is an id (``sch_...``) or a
schedule's name. Times come in as ISO 8601 (no offset: UTC) and go out in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, g

from workflow_studio.compute.clock import iso
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.scopes import Scope
from workflow_studio.engine import render as run_render
from workflow_studio.engine.schedules import ScheduleConflict, ScheduleInvalid, firing, service
from workflow_studio.engine.schedules import render as out
from workflow_studio.engine.schedules.spec import to_ms
from workflow_studio.storage import Row
from workflow_studio.storage import schedules as repo
from workflow_studio.worker.context import conn, runtime, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body, query_args
from workflow_studio.worker.schemas import schedules as schemas
from workflow_studio.worker.security import requires

bp = Blueprint("schedules", __name__)
SCHEDULER = "workflow_studio.scheduler"  # app.extensions key of this process's loop
_create, _patch = schemas.CreateScheduleSchema(), schemas.PatchScheduleSchema()
_pause, _trigger = schemas.PauseSchema(), schemas.TriggerScheduleSchema()
_resume = schemas.ResumeScheduleSchema()
_backfill, _list = schemas.BackfillSchema(), schemas.ScheduleListQuerySchema()
_show, _preview = schemas.ScheduleQuerySchema(), schemas.PreviewQuerySchema()
_TIMES = ("startAt", "endAt")


def _now() -> int:
    return runtime().clock.now_ms()


def _ms(value: datetime) -> int:
    return to_ms(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """A loaded body as the engine's fields: times in ms."""
    return {k: (_ms(v) if k in _TIMES and v is not None else v) for k, v in data.items()}


def _invalid(exc: ScheduleInvalid) -> ApiError:
    extra: dict[str, Any] = {"field": exc.field}
    if exc.position:
        extra["position"] = exc.position
    return ApiError(exc.code, str(exc), **extra)


def _poke() -> None:
    """This process's firing loop looks again at once (other processes within a second)."""
    scheduler = current_app.extensions.get(SCHEDULER)
    if scheduler is not None:
        scheduler.poke()


def _schedule_or_404(schedule_id: str) -> Row:
    row = service.find(conn(), schedule_id)
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule with id or name {schedule_id!r}.")
    return row


def _json(row: Row) -> dict[str, Any]:
    return out.schedule_json(row, firing.spec_of(row["spec_json"]))


@bp.post("/v1/schedules")
@requires(Scope.SCHEDULES_WRITE)
def create_schedule() -> Any:
    data = _fields(json_body(_create))
    try:
        row = service.create(conn(), data, created_by=g.get("key_id"), now=_now(),
                             max_payload_bytes=state().settings.max_payload_bytes)
    except ScheduleInvalid as exc:
        raise _invalid(exc) from None
    except ScheduleConflict as exc:
        raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
    _poke()
    return _json(row), 201


@bp.get("/v1/schedules")
@requires(Scope.SCHEDULES_READ)
def list_schedules() -> Any:
    q = query_args(_list)
    rows, more = repo.list_schedules(conn(), cursor=q["cursor"], limit=q["limit"],
                                     source=q["source"], paused=q["paused"],
                                     workflow=q["workflow"])
    return {"data": [_json(r) for r in rows],
            "cursor": rows[-1]["id"] if rows and more else None, "hasMore": more}


@bp.get("/v1/schedules/<schedule_id>")
@requires(Scope.SCHEDULES_READ)
def get_schedule(schedule_id: str) -> Any:
    count = query_args(_show)["ticks"]
    row = _schedule_or_404(schedule_id)
    ticks = repo.recent_ticks(conn(), row["id"], count) if count else []
    return {**_json(row), "recentTicks": [out.tick_json(t) for t in ticks]}


@bp.patch("/v1/schedules/<schedule_id>")
@requires(Scope.SCHEDULES_WRITE)
def update_schedule(schedule_id: str) -> Any:
    data = _fields(json_body(_patch))
    row = _schedule_or_404(schedule_id)
    try:
        row = service.update(conn(), row["id"], data, now=_now(),
                             max_payload_bytes=state().settings.max_payload_bytes)
    except ScheduleInvalid as exc:
        raise _invalid(exc) from None
    except ScheduleConflict as exc:
        raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
    except LookupError:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule {schedule_id!r}.") from None
    _poke()
    return _json(row)


@bp.delete("/v1/schedules/<schedule_id>")
@requires(Scope.SCHEDULES_WRITE)
def delete_schedule(schedule_id: str) -> Any:
    row = _schedule_or_404(schedule_id)
    service.delete(conn(), row["id"])
    return {"id": row["id"], "name": row["name"], "deleted": True}


@bp.post("/v1/schedules/<schedule_id>/pause")
@requires(Scope.SCHEDULES_WRITE)
def pause_schedule(schedule_id: str) -> Any:
    note = json_body(_pause)["note"]
    row = _schedule_or_404(schedule_id)
    try:
        row = service.pause(conn(), row["id"], note, g.get("key_id"), _now())
    except LookupError:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule {schedule_id!r}.") from None
    return _json(row)


@bp.post("/v1/schedules/<schedule_id>/resume")
@requires(Scope.SCHEDULES_WRITE)
def resume_schedule(schedule_id: str) -> Any:
    json_body(_resume)
    row = _schedule_or_404(schedule_id)
    try:
        row = service.resume(conn(), row["id"], _now())
    except LookupError:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule {schedule_id!r}.") from None
    _poke()
    return _json(row)


@bp.post("/v1/schedules/<schedule_id>/trigger")
@requires(Scope.SCHEDULES_WRITE)
def trigger_schedule(schedule_id: str) -> Any:
    overlap = json_body(_trigger)["overlap"]
    row = _schedule_or_404(schedule_id)
    try:
        outcome, run, fired = firing.trigger(runtime(), conn(), row["id"], overlap, _now())
    except LookupError:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule {schedule_id!r}.") from None
    fired.notify(runtime())
    if run is not None:
        g.run_id = run["id"]
    return {"outcome": outcome, "run": run_render.run_json(run) if run else None}, 202


@bp.post("/v1/schedules/<schedule_id>/backfill")
@requires(Scope.SCHEDULES_WRITE)
def backfill_schedule(schedule_id: str) -> Any:
    data = json_body(_backfill)
    row = _schedule_or_404(schedule_id)
    overlap = data["overlap"] or row["overlap"]
    now = _now()
    try:
        ticks = service.backfill_ticks(row, _ms(data["from_"]), _ms(data["to"]), now)
    except ScheduleInvalid as exc:
        raise _invalid(exc) from None
    if data["dryRun"]:
        known = {t["scheduled_at"]: t for t in repo.ticks_in(conn(), row["id"], ticks[0],
                                                              ticks[-1])} if ticks else {}
        report = [{"scheduledAt": iso(t), "runId": known[t]["run_id"] if t in known
                   else None, "outcome": "already_decided" if t in known and known[t][
                       "outcome"] in ("fired", "buffered") else "would_fire"} for t in ticks]
        return {"dryRun": True, "overlap": overlap, "ticks": report}
    try:
        done, fired = firing.backfill(runtime(), conn(), row["id"], ticks, overlap, now)
    except LookupError:
        raise ApiError(ErrorCode.NOT_FOUND, f"No schedule {schedule_id!r}.") from None
    fired.notify(runtime())
    _poke()
    return {"dryRun": False, "overlap": overlap,
            "ticks": [{"scheduledAt": iso(t["tick"]), "outcome": t["outcome"],
                       "runId": t["runId"]} for t in done]}, 202


@bp.get("/v1/schedules/<schedule_id>/preview")
@requires(Scope.SCHEDULES_READ)
def preview_schedule(schedule_id: str) -> Any:
    count = query_args(_preview)["count"]
    row = _schedule_or_404(schedule_id)
    spec = firing.spec_of(row["spec_json"])
    return {"timezone": spec.timezone,
            "fireTimes": out.preview(spec, row["id"], _now(), count)}

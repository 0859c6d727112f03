"""Schedule definitions: create, change, pause, resume, delete, and the reconciliation of
config-defined schedules when a deployment is activated. The API and the CLI call these;
the firing itself is ``firing``.

A definition arrives with the API's field names (``workflowName``, ``cron``, ``startAt`` in
ms, ...) and is checked whole: a bad field raises ``ScheduleInvalid`` naming it (and, for a
cron expression, the character), which the API answers 400 ``invalid_schedule``.

**Config-defined schedules** (``define_config(schedules=[...])``, shipped in the
deployment's manifest) are created or updated when their deployment is activated; one
removed from the config is paused (``pausedBy: "config"``) with a note saying so, never
deleted, and comes back (unpaused) when a later deployment defines it again. API-created
schedules are never touched by a deploy: a config schedule with the same name is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from workflow_studio.compute import schedules as vocabulary
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import new_id, parse_id
from workflow_studio.engine import runs as starts
from workflow_studio.engine.schedules.firing import spec_of
from workflow_studio.engine.schedules.policy import COUNT_CAP
from workflow_studio.engine.schedules.render import SPEC_FIELDS
from workflow_studio.engine.schedules.spec import Spec, SpecError
from workflow_studio.storage import Connection, IntegrityError, Row
from workflow_studio.storage import schedules as repo

CONFIG = "config"
DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "args": [], "kwargs": {}, "timezone": "UTC", "overlap": "skip", "catchup": "latest",
    "catchupWindowSeconds": vocabulary.CATCHUP_WINDOW_DEFAULT,
    "maxCatchup": vocabulary.MAX_CATCHUP_DEFAULT, "remainingActions": None,
    "deploymentId": None, "paused": False, "pauseNote": None,
})


class ScheduleInvalid(ValueError):
    """A definition the API answers 400 (``code``, default ``invalid_schedule``), naming
    ``field`` and, for a cron expression, ``position``."""

    def __init__(self, field: str, message: str, position: int = 0,
                 code: ErrorCode = ErrorCode.INVALID_SCHEDULE) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.position, self.code = field, message, position, code


class ScheduleConflict(Exception):
    """The name is taken (by another schedule, or by an API schedule for a config one)."""


def stored_fields(row: Row) -> dict[str, Any]:
    """A stored schedule as API-named fields (what a PATCH is merged into)."""
    return {"name": row["name"], "workflowName": row["workflow_name"], "args": row["args"],
            "kwargs": row["kwargs"], **row["spec"], "overlap": row["overlap"],
            "catchup": row["catchup"], "catchupWindowSeconds": row["catchup_window_seconds"],
            "maxCatchup": row["max_catchup"], "remainingActions": row["remaining_actions"],
            "deploymentId": row["deployment_id"]}


def _spec(fields: Mapping[str, Any]) -> tuple[Spec, str]:
    try:
        spec = Spec.build(cron=fields.get("cron") or (),
                          interval_seconds=fields.get("intervalSeconds"),
                          phase_seconds=fields.get("phaseSeconds"),
                          timezone=fields.get("timezone"), start_at=fields.get("startAt"),
                          end_at=fields.get("endAt"), jitter_seconds=fields.get("jitterSeconds"))
    except SpecError as exc:
        raise ScheduleInvalid(exc.field, exc.message, exc.position) from None
    stored = {k: fields.get(k) for k in SPEC_FIELDS if fields.get(k) not in (None, [], 0)}
    stored["cron"] = [c.text for c in spec.crons]
    stored["timezone"] = spec.timezone
    return spec, json.dumps(stored, sort_keys=True, separators=(",", ":"))


def _check(fields: Mapping[str, Any], max_payload_bytes: int | None) -> None:
    name = fields.get("name")
    if not vocabulary.valid_name(name):
        raise ScheduleInvalid("name", "1-128 of A-Za-z0-9._- starting with a letter or digit,"
                              " not starting with sch_")
    workflow = fields.get("workflowName")
    if not isinstance(workflow, str) or not 0 < len(workflow) <= 200:
        raise ScheduleInvalid("workflowName", "a workflow name of 1-200 characters")
    for field, choices in (("overlap", vocabulary.OVERLAP_POLICIES),
                           ("catchup", vocabulary.CATCHUP_POLICIES)):
        if fields.get(field) not in choices:
            raise ScheduleInvalid(field, f"one of {', '.join(choices)}")
    bounds = (("catchupWindowSeconds", 1, vocabulary.MAX_WINDOW_SECONDS),
              ("maxCatchup", 1, vocabulary.MAX_CATCHUP_LIMIT),
              ("remainingActions", 0, 2**31 - 1))
    for field, low, high in bounds:
        value = fields.get(field)
        if value is None and field == "remainingActions":
            continue
        if type(value) is not int or not low <= value <= high:
            raise ScheduleInvalid(field, f"an integer from {low} to {high}")
    deployment = fields.get("deploymentId")
    if deployment is not None and parse_id(deployment, "dpl") is None:
        raise ScheduleInvalid("deploymentId", f"{deployment!r} is not a deployment id (dpl_...)")
    args, kwargs = fields.get("args"), fields.get("kwargs")
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ScheduleInvalid("args", "args is a list and kwargs an object")
    try:
        starts.encode_input(args, kwargs, max_payload_bytes)
    except starts.StartRefused as exc:
        code = exc.code if exc.code is ErrorCode.PAYLOAD_TOO_LARGE else \
            ErrorCode.INVALID_SCHEDULE
        raise ScheduleInvalid("args", exc.message, code=code) from None


def columns(fields: Mapping[str, Any], max_payload_bytes: int | None) -> tuple[dict[str, Any],
                                                                               Spec]:
    """Check a whole definition (defaults filled in) and return its columns and spec."""
    merged = {**DEFAULTS, **{k: v for k, v in fields.items() if v is not None}}
    if "remainingActions" in fields:
        merged["remainingActions"] = fields["remainingActions"]
    if "deploymentId" in fields:
        merged["deploymentId"] = fields["deploymentId"]
    _check(merged, max_payload_bytes)
    spec, spec_json = _spec(merged)
    return {"name": merged["name"], "workflow_name": merged["workflowName"],
            "args_json": json.dumps(merged["args"]), "kwargs_json": json.dumps(merged["kwargs"]),
            "spec_json": spec_json, "overlap": merged["overlap"], "catchup": merged["catchup"],
            "catchup_window_seconds": merged["catchupWindowSeconds"],
            "max_catchup": merged["maxCatchup"],
            "remaining_actions": merged["remainingActions"],
            "deployment_id": merged["deploymentId"]}, spec


def _position(spec: Spec, schedule_id: str, now: int) -> dict[str, Any]:
    tick = spec.next_tick(now)
    return {"next_tick_at": tick,
            "next_fire_at": None if tick is None else spec.fire_at(schedule_id, tick)}


def create(conn: Connection, fields: Mapping[str, Any], *, created_by: str | None, now: int,
           max_payload_bytes: int | None = None, source: str = "api",
           config_deployment_id: str | None = None) -> Row:
    """A new schedule; its first tick is the spec's first after ``now``."""
    values, spec = columns(fields, max_payload_bytes)
    schedule_id = new_id("sch")
    values.update(_position(spec, schedule_id, now), source=source,
                  config_deployment_id=config_deployment_id)
    if fields.get("paused"):
        values.update(paused=1, pause_note=fields.get("pauseNote"), paused_by=created_by,
                      paused_at=now)
    with conn.transaction():
        if repo.get_by_name(conn, values["name"]) is not None:
            raise ScheduleConflict(f"A schedule named {values['name']!r} exists.")
        try:
            return repo.create(conn, schedule_id, values, created_by, now)
        except IntegrityError:
            raise ScheduleConflict(f"A schedule named {values['name']!r} exists.") from None


def find(conn: Connection, ref: str) -> Row | None:
    """A schedule by id (``sch_...``) or by name."""
    if parse_id(ref, "sch") is not None:
        return repo.get(conn, ref)
    return repo.get_by_name(conn, ref) if vocabulary.valid_name(ref) else None


def _changed(conn: Connection, row: Row, values: dict[str, Any], spec: Spec,
             now: int) -> Row:
    """Write a definition's new ``values`` on the locked ``row``; the position restarts
    after ``now`` if the spec changed, and a buffer the policy no longer keeps is dropped."""
    if values["name"] != row["name"] and repo.get_by_name(conn, values["name"]) is not None:
        raise ScheduleConflict(f"A schedule named {values['name']!r} exists.")
    if values["spec_json"] != row["spec_json"]:
        values.update(_position(spec, row["id"], now))
    if row["buffered"] and not values["overlap"].startswith("buffer_"):
        repo.drop_buffer(conn, row["id"], f"overlap changed to {values['overlap']}", now)
        values["buffered"] = 0
    values["updated_at"] = now
    updated = repo.update(conn, row["id"], values)
    assert updated is not None
    return updated


def update(conn: Connection, schedule_id: str, changes: Mapping[str, Any], *, now: int,
           max_payload_bytes: int | None = None) -> Row:
    """Apply a PATCH (fields given replace the stored ones; ``null`` clears the optional
    ones); ``LookupError`` if there is no such schedule."""
    with conn.transaction():
        row = repo.lock(conn, schedule_id)
        if row is None:
            raise LookupError(schedule_id)
        merged = {**stored_fields(row), **changes}
        values, spec = columns(merged, max_payload_bytes)
        return _changed(conn, row, values, spec, now)


def pause(conn: Connection, schedule_id: str, note: str | None, by: str | None,
          now: int) -> Row:
    with conn.transaction():
        row = repo.lock(conn, schedule_id)
        if row is None:
            raise LookupError(schedule_id)
        updated = repo.update(conn, schedule_id, {
            "paused": 1, "pause_note": note, "paused_by": by, "paused_at": now,
            "updated_at": now})
    assert updated is not None
    return updated


def _resume(conn: Connection, row: Row, now: int) -> dict[str, Any]:
    """Unpause ``row``: the ticks due while it was paused are recorded (one row) as
    ``paused``, and it goes on with the first tick after ``now``."""
    spec = spec_of(row["spec_json"])
    tick = row["next_tick_at"]
    if tick is not None and tick <= now:
        last = next(spec.before(now + 1), None)
        if last is not None and last >= tick:
            repo.record_tick(conn, row["id"], tick, vocabulary.PAUSED, at=now,
                             until_at=last, count=spec.count(tick, last, COUNT_CAP),
                             reason=row["pause_note"])
    if tick is not None:
        tick = spec.next_tick(now)
    return {"paused": 0, "pause_note": None, "paused_by": None, "paused_at": None,
            "next_tick_at": tick,
            "next_fire_at": None if tick is None else spec.fire_at(row["id"], tick),
            "updated_at": now}


def resume(conn: Connection, schedule_id: str, now: int) -> Row:
    with conn.transaction():
        row = repo.lock(conn, schedule_id)
        if row is None:
            raise LookupError(schedule_id)
        if not row["paused"]:
            return row
        updated = repo.update(conn, schedule_id, _resume(conn, row, now))
    assert updated is not None
    return updated


def delete(conn: Connection, schedule_id: str) -> bool:
    with conn.transaction():
        return repo.delete(conn, schedule_id)


def backfill_ticks(row: Row, first: int, last: int, now: int) -> list[int]:
    """The spec's ticks in ``[first, last]`` (``ScheduleInvalid`` past the limits)."""
    if last < first:
        raise ScheduleInvalid("to", "must not be before from")
    if last > now:
        raise ScheduleInvalid("to", "must not be in the future (future ticks fire on time)")
    ticks = spec_of(row["spec_json"]).between(first, last, vocabulary.MAX_BACKFILL_TICKS + 1)
    if len(ticks) > vocabulary.MAX_BACKFILL_TICKS:
        raise ScheduleInvalid("from", f"the range holds more than "
                              f"{vocabulary.MAX_BACKFILL_TICKS} ticks; backfill it in parts")
    return ticks


# -- config-defined schedules ------------------------------------------------------------
def reconcile(conn: Connection, deployment_id: str, definitions: Sequence[Mapping[str, Any]],
              now: int, max_payload_bytes: int | None = None) -> dict[str, list[str]]:
    """Make the config schedules match ``definitions`` (the activated deployment's), in
    the caller's transaction; returns the names created, updated, resumed and paused."""
    done: dict[str, list[str]] = {"created": [], "updated": [], "resumed": [], "paused": []}
    wanted: set[str] = set()
    with conn.transaction():
        for index, definition in enumerate(definitions):
            try:
                values, spec = columns(definition, max_payload_bytes)
            except ScheduleInvalid as exc:
                raise ScheduleInvalid(f"schedules[{index}].{exc.field}", exc.message,
                                      exc.position, exc.code) from None
            name = values["name"]
            wanted.add(name)
            row = repo.get_by_name(conn, name)
            if row is None:
                create(conn, definition, created_by=CONFIG, now=now,
                       max_payload_bytes=max_payload_bytes, source=CONFIG,
                       config_deployment_id=deployment_id)
                done["created"].append(name)
                continue
            if row["source"] != CONFIG:
                raise ScheduleConflict(
                    f"schedules[{index}]: {name!r} is a schedule created through the API; "
                    "a deploy never changes those (rename one of them)")
            row = repo.lock(conn, row["id"]) or row
            values["config_deployment_id"] = deployment_id
            if any(values[k] != row[k] for k in values if k != "config_deployment_id"):
                row = _changed(conn, row, values, spec, now)
                done["updated"].append(name)
            else:
                repo.update(conn, row["id"], {"config_deployment_id": deployment_id})
            if row["paused"] and row["paused_by"] == CONFIG:
                repo.update(conn, row["id"], _resume(conn, row, now))
                done["resumed"].append(name)
        for row in repo.by_source(conn, CONFIG):
            if row["name"] in wanted or row["paused"]:
                continue
            repo.update(conn, row["id"], {
                "paused": 1, "paused_by": CONFIG, "paused_at": now, "updated_at": now,
                "pause_note": f"removed from the config of deployment {deployment_id}; "
                              "define it again to resume it, or delete it"})
            done["paused"].append(row["name"])
    return done

"""Schedules, ticks and fire-time previews as the API's JSON (times in ISO 8601 UTC, and
each preview time in the schedule's zone too)."""

from __future__ import annotations

from typing import Any

from workflow_studio.compute.clock import iso
from workflow_studio.engine.schedules.spec import Spec, from_ms
from workflow_studio.storage import Row

SPEC_FIELDS = ("cron", "intervalSeconds", "phaseSeconds", "timezone", "startAt", "endAt",
               "jitterSeconds")


def schedule_json(row: Row, spec: Spec) -> dict[str, Any]:
    given = row["spec"]
    return {
        "id": row["id"], "name": row["name"], "workflowName": row["workflow_name"],
        "args": row["args"], "kwargs": row["kwargs"],
        "cron": list(given.get("cron") or []),
        "intervalSeconds": given.get("intervalSeconds"),
        "phaseSeconds": given.get("phaseSeconds"), "timezone": spec.timezone,
        "startAt": iso(given.get("startAt")), "endAt": iso(given.get("endAt")),
        "jitterSeconds": given.get("jitterSeconds") or 0,
        "description": spec.describe(),
        "overlap": row["overlap"], "catchup": row["catchup"],
        "catchupWindowSeconds": row["catchup_window_seconds"],
        "maxCatchup": row["max_catchup"],
        "paused": row["paused"], "pauseNote": row["pause_note"],
        "pausedBy": row["paused_by"], "pausedAt": iso(row["paused_at"]),
        "remainingActions": row["remaining_actions"], "deploymentId": row["deployment_id"],
        "source": row["source"], "configDeploymentId": row["config_deployment_id"],
        "nextTickAt": iso(row["next_tick_at"]),
        "nextFireAt": None if row["paused"] else iso(row["next_fire_at"]),
        "buffered": row["buffered"], "createdBy": row["created_by"],
        "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]),
    }


def tick_json(tick: Row) -> dict[str, Any]:
    return {
        "scheduledAt": iso(tick["scheduled_at"]), "outcome": tick["outcome"],
        "reason": tick["reason"], "runId": tick["run_id"],
        "runStatus": tick.get("run_status"), "source": tick["source"],
        "untilAt": iso(tick["until_at"]), "count": tick["tick_count"],
        "recordedAt": iso(tick["recorded_at"]),
    }


def fire_time_json(spec: Spec, schedule_id: str, tick: int) -> dict[str, Any]:
    return {"scheduledAt": iso(tick), "local": from_ms(tick).astimezone(spec.zone).isoformat(),
            "fireAt": iso(spec.fire_at(schedule_id, tick))}


def preview(spec: Spec, schedule_id: str, after: int, count: int) -> list[dict[str, Any]]:
    """The next ``count`` ticks after ``after`` (fewer when the spec ends)."""
    out: list[dict[str, Any]] = []
    for tick in spec.after(after):
        if len(out) >= count:
            break
        out.append(fire_time_json(spec, schedule_id, tick))
    return out

"""Runs, steps, events and stream chunks as the API's JSON (payloads as tagged JSON).

One rendering for every caller (the runs API, the world proxy, the local world, the CLI), so
a run reads the same whichever way it is fetched.
"""

from __future__ import annotations

import json
from typing import Any

from workflow_studio.compute.clock import iso
from workflow_studio.storage import Row


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def run_json(run: Row, include_io: bool = True) -> dict[str, Any]:
    """A run as the API shows it (payloads as tagged JSON)."""
    body: dict[str, Any] = {
        "id": run["id"], "workflowName": run["workflow_name"], "status": run["status"],
        "deploymentId": run["deployment_id"], "triggerType": run["trigger_type"],
        "waitingOn": _json(run["waiting_json"]), "error": _json(run["error_json"]),
        "createdAt": iso(run["created_at"]), "startedAt": iso(run["started_at"]),
        "completedAt": iso(run["completed_at"]), "updatedAt": iso(run["updated_at"]),
        "scheduleId": run.get("schedule_id"), "scheduledAt": iso(run.get("scheduled_at")),
    }
    if include_io:
        body["input"] = _json(run["input_json"])
        body["output"] = _json(run["output_json"])
    return body


def step_json(step: Row) -> dict[str, Any]:
    return {
        "id": step["id"], "runId": step["run_id"], "position": step["seq"],
        "stepName": step["step_name"], "status": step["status"], "attempt": step["attempt"],
        "input": _json(step["input_json"]), "output": _json(step["output_json"]),
        "error": _json(step["error_json"]), "retryAt": iso(step["retry_at"]),
        "createdAt": iso(step["created_at"]), "startedAt": iso(step["started_at"]),
        "completedAt": iso(step["completed_at"]),
    }


def event_json(event: Row) -> dict[str, Any]:
    return {"id": event["id"], "position": event["position"], "runId": event["run_id"],
            "eventType": event["event_type"], "correlationId": event["correlation_id"],
            "payload": event["payload"], "createdAt": iso(event["created_at"])}


def chunk_json(chunk: Row) -> dict[str, Any]:
    return {"position": chunk["position"], "data": _json(chunk["data_json"]),
            "done": bool(chunk["is_close"]), "createdAt": iso(chunk["created_at"])}

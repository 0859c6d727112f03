"""World operations shared by the HTTP API and the local world: trigger a run, cancel it,
resume a hook, and render runs, steps and events as the API's JSON.

Each operation is one transaction; the caller wakes its process's executor afterwards.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.worker.clock import iso
from workflow_studio.worker.storage.base import Connection, Row
from workflow_studio.worker.storage.world import (
    TERMINAL_RUN_STATUSES,
    WorldConflict,
    hooks,
    queue,
    runs,
)

_executor_lock = threading.Lock()
_executor: Any = None


def install_executor(executor: Any) -> None:
    """Make ``executor`` this process's executor (woken after triggers and resumes)."""
    global _executor
    with _executor_lock:
        _executor = executor


def current_executor() -> Any:
    return _executor


def wake(count: int = 1) -> None:
    if _executor is not None:
        _executor.wake(count)


class HookNotFound(LookupError):
    """No live hook has this token."""


def trigger(conn: Connection, workflow_name: str, args: Any, kwargs: Any, *,
            deployment_id: str, trigger_type: str,
            concurrency_limit: int | None = None) -> Row:
    """Create a pending run, its ``run_created`` event and its queue message in one
    transaction (joining the caller's, if any)."""
    input_json = payloads.dumps({"args": tuple(args or ()), "kwargs": dict(kwargs or {})},
                                "run arguments")
    with conn.transaction():
        run = runs.create(conn, workflow_name, deployment_id, trigger_type, input_json)
        queue.enqueue_run(conn, run["id"], deployment_id, concurrency_limit)
    return run


def cancel(conn: Connection, run_id: str) -> Row:
    """pending/running -> cancelled; ``WorldConflict`` if already terminal, ``LookupError``
    if unknown. Claimed work notices at its next fenced write and stops."""
    with conn.transaction():
        run = runs.get(conn, run_id)
        if run is None:
            raise LookupError(run_id)
        if run["status"] not in TERMINAL_RUN_STATUSES:
            hooks.dispose_for_run(conn, run_id)
        runs.cancel(conn, run_id)
        queue.delete_unclaimed_for_run(conn, run_id)
        run = runs.get(conn, run_id)
    assert run is not None
    return run


def resume_hook(conn: Connection, token: str, payload: Any) -> Row:
    """Deliver ``payload`` to the live hook ``token`` and wake its run; returns the hook."""
    payload_json = payloads.dumps(payload, "hook payload")
    with conn.transaction():
        hook = hooks.get_live_by_token(conn, token)
        if hook is None:
            raise HookNotFound(token)
        run = runs.get(conn, hook["run_id"])
        if run is None or run["status"] in TERMINAL_RUN_STATUSES:
            raise HookNotFound(token)
        hooks.receive(conn, hook, payload_json)
        queue.enqueue_run(conn, run["id"], run["deployment_id"])
    return hook


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


__all__ = ["HookNotFound", "WorldConflict", "cancel", "current_executor", "install_executor",
           "resume_hook", "run_json", "trigger", "wake"]

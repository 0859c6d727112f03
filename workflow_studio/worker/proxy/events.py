"""``POST /v1/world/events/create``: apply one event to its entity through the engine's own
repositories (``storage/world/*``), which append the event and update the entity together.

This module only validates the request and picks the repository call; the event-sourcing
rules (terminal states are final, creation events unique, hook tokens unique among live
hooks, hooks disposed when a run ends) live in the repositories the engine uses too.
"""

from __future__ import annotations

import math
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.compute.runs import TRIGGER_TYPES
from workflow_studio.engine import runs as starts
from workflow_studio.engine import service
from workflow_studio.storage.base import Connection, IntegrityError, Row
from workflow_studio.storage.world import (
    TERMINAL_RUN_STATUSES,
    WorldConflict,
    hooks,
    queue,
    runs,
    steps,
    waits,
)
from workflow_studio.worker.context import start_refused, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.proxy import pages

EVENT_TYPES = (
    "run_created", "run_started", "run_completed", "run_failed", "run_cancelled",
    "step_created", "step_started", "step_completed", "step_failed", "step_retrying",
    "hook_created", "hook_received", "hook_disposed", "hook_conflict",
    "wait_created", "wait_completed",
)


def _bad(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


def _conflict(message: str) -> ApiError:
    return ApiError(ErrorCode.CONFLICT, message)


def _payload_json(data: dict[str, Any], name: str) -> str:
    try:
        return payloads.dumps(payloads.from_jsonable(data.get(name)), name,
                              state().settings.max_payload_bytes)
    except payloads.PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"eventData.{exc}") from None
    except (ValueError, TypeError, KeyError, payloads.PayloadError) as exc:
        raise _bad(f"eventData.{name} holds an invalid tagged value: {exc}") from None


def _int(data: dict[str, Any], name: str, minimum: int = 0) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(f"eventData.{name} must be an integer >= {minimum}")
    return value


def _error(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("error")
    if not isinstance(error, dict):
        raise _bad("eventData.error must be an object such as {\"message\": \"...\"}")
    return error


def _correlated(row: Row | None, run_id: str, kind: str, correlation_id: Any) -> Row:
    if row is None or row["run_id"] != run_id:
        raise ApiError(ErrorCode.NOT_FOUND,
                       f"Run {run_id} has no {kind} {correlation_id!r} (correlationId).")
    return row


def create_run(conn: Connection, run_id: str | None, data: dict[str, Any]) -> Row:
    """``run_created``: a run, through the one service that starts runs (not queued: the
    remote world queues it with ``POST /v1/world/queue``)."""
    name = data.get("workflowName")
    if not isinstance(name, str) or not name:
        raise _bad("run_created needs eventData.workflowName")
    if run_id is not None and parse_id(run_id, "wrun") is None:
        raise ApiError(ErrorCode.INVALID_RUN_ID, f"{run_id!r} is not a run id (wrun_...).")
    if run_id is not None and runs.get(conn, run_id) is not None:
        raise _conflict(f"run_created for {run_id} already recorded")
    requested = data.get("deploymentId")
    if requested is not None and not isinstance(requested, str):
        raise _bad("eventData.deploymentId must be a string")
    trigger = data.get("triggerType", "api")
    if trigger not in TRIGGER_TYPES:
        raise _bad(f"eventData.triggerType must be one of {', '.join(TRIGGER_TYPES)}")
    data = {"input": {"args": [], "kwargs": {}}, **data}
    request = starts.StartRequest(name, deployment=requested or None, trigger_type=trigger,
                                  run_id=run_id, input_json=_payload_json(data, "input"),
                                  enqueue=False)
    try:
        return starts.start_run(conn, request).run
    except starts.StartRefused as exc:
        raise start_refused(exc) from None


def apply(conn: Connection, run_id: str, event_type: str, correlation_id: str | None,
          data: dict[str, Any]) -> dict[str, Any]:
    """Apply the event inside the caller's transaction; returns the changed entity."""
    run = runs.get(conn, run_id)
    if run is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No run with id {run_id!r}.")
    if run["status"] in TERMINAL_RUN_STATUSES:
        raise ApiError(ErrorCode.RUN_TERMINAL, f"run {run_id} is already {run['status']}")
    try:
        return _apply(conn, run, event_type, correlation_id, data)
    except WorldConflict as exc:
        raise _conflict(str(exc)) from None
    except IntegrityError:
        raise _conflict(f"{event_type} for this position of run {run_id} already recorded"
                        ) from None


def _metadata(value: Any) -> Any:
    """Hook metadata arrives as tagged JSON and is stored as such; its tags are checked
    first, so a bad one is the caller's 400, not a hook whose every later read fails."""
    try:
        payloads.from_jsonable(value)
    except payloads.PayloadError as exc:
        raise _bad(f"eventData.metadata: {exc}") from None
    return value


def _apply(conn: Connection, run: Row, event_type: str, correlation_id: str | None,
           data: dict[str, Any]) -> dict[str, Any]:
    run_id = run["id"]
    if event_type == "run_started":
        runs.mark_started(conn, run_id)  # idempotent: a second run_started changes nothing
    elif event_type in ("run_completed", "run_failed"):
        queue.lock_for_run(conn, run_id)  # lock order: messages, hooks, run
        hooks.dispose_for_run(conn, run_id)
        if event_type == "run_completed":
            runs.complete(conn, run_id, _payload_json(data, "output"))
        else:
            runs.fail(conn, run_id, _error(data))
        queue.delete_unclaimed_for_run(conn, run_id)
    elif event_type == "run_cancelled":
        service.cancel(conn, run_id)
    elif event_type.startswith("step_"):
        return {"step": _apply_step(conn, run_id, event_type, correlation_id, data)}
    elif event_type.startswith("hook_"):
        return {"hook": _apply_hook(conn, run, event_type, correlation_id, data)}
    elif event_type == "wait_created":
        created = waits.create(conn, run_id, _int(data, "seq", 1), _int(data, "resumeAt"))
        return {"wait": pages.wait(conn, created["id"]) or created}
    elif event_type == "wait_completed":
        wait = _correlated(pages.wait(conn, str(correlation_id)), run_id, "wait",
                           correlation_id)
        if wait["status"] == "completed":
            raise _conflict(f"wait {wait['id']} is already completed")
        waits.complete(conn, wait)
        return {"wait": pages.wait(conn, wait["id"]) or wait}
    return {"run": runs.get(conn, run_id)}


def _apply_step(conn: Connection, run_id: str, event_type: str, correlation_id: str | None,
                data: dict[str, Any]) -> Row:
    if event_type == "step_created":
        name = data.get("stepName")
        if not isinstance(name, str) or not name:
            raise _bad("step_created needs eventData.stepName")
        created = steps.create(conn, run_id, _int(data, "seq", 1), name,
                               _payload_json({"input": {"args": [], "kwargs": {}}, **data},
                                             "input"))
        return steps.get_by_id(conn, created["id"]) or created
    step = _correlated(steps.get_by_id(conn, str(correlation_id)), run_id, "step",
                       correlation_id)
    if event_type == "step_started":
        if step["status"] == "retrying" and (step["retry_at"] or 0) > now_ms():
            wait = max(1, math.ceil((step["retry_at"] - now_ms()) / 1000))
            raise ApiError(ErrorCode.TOO_EARLY,
                           f"step {step['id']} may not start before its retry time.",
                           {"Retry-After": str(wait)}, retryAfter=wait)
        steps.start(conn, step)
    elif event_type == "step_completed":
        steps.complete(conn, step, _payload_json(data, "output"))
    elif event_type == "step_failed":
        steps.fail(conn, step, _error(data))
    else:  # step_retrying
        retry_at = data.get("retryAt", now_ms())
        if not isinstance(retry_at, int) or isinstance(retry_at, bool):
            raise _bad("eventData.retryAt must be epoch milliseconds")
        steps.retry(conn, step, _error(data), retry_at)
    return steps.get_by_id(conn, step["id"]) or step


def _apply_hook(conn: Connection, run: Row, event_type: str, correlation_id: str | None,
                data: dict[str, Any]) -> Row:
    if event_type == "hook_conflict":
        raise _bad("hook_conflict is recorded by the world when hook_created finds the "
                   "token live; it cannot be created directly")
    if event_type == "hook_created":
        token = data.get("token")
        if not isinstance(token, str) or not token or len(token) > 500:
            raise _bad("hook_created needs eventData.token (1-500 characters)")
        created = hooks.create(conn, run["id"], _int(data, "seq", 1), token,
                               _metadata(data.get("metadata")))
        return hooks.get(conn, created["id"]) or created
    hook = _correlated(hooks.get(conn, str(correlation_id)), run["id"], "hook", correlation_id)
    if event_type == "hook_received":
        if hook["disposed_at"] is not None:
            raise _conflict(f"hook {hook['id']} is disposed")
        payload_json = _payload_json(data, "payload")
        queue.enqueue_run(conn, run["id"], run["deployment_id"])  # message before hook
        hooks.receive(conn, hook, payload_json)
    else:  # hook_disposed
        if hook["disposed_at"] is not None:
            raise _conflict(f"hook {hook['id']} is already disposed")
        hooks.dispose(conn, hook)
    return hooks.get(conn, hook["id"]) or hook

"""World operations shared by the HTTP API and the local world: trigger a run, cancel it,
resume a hook, and render runs, steps and events as the API's JSON.

Each operation is one transaction; the caller wakes its process's executor afterwards.

Long-polls (``GET /v1/runs/:id?wait``, ``POST /v1/runs?wait``) wait on ``watch(run_id)``:
the runner calls ``run_changed(run_id)`` after each message it processes, so a run finished
by this process answers its waiters at once (and wakes only them); a run finished by another
process is seen by ``await_run``'s short, growing re-reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.compute.clock import iso
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import (
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


_watch_lock = threading.Lock()
_watchers: dict[str, list[threading.Event]] = {}


@contextlib.contextmanager
def watch(run_id: str) -> Iterator[threading.Event]:
    """An event set whenever this process changes ``run_id``; register before reading."""
    event = threading.Event()
    with _watch_lock:
        _watchers.setdefault(run_id, []).append(event)
    try:
        yield event
    finally:
        with _watch_lock:
            waiting = _watchers.get(run_id, [])
            if event in waiting:
                waiting.remove(event)
            if not waiting:
                _watchers.pop(run_id, None)


def run_changed(run_id: str) -> None:
    """Wake this process's long-polls on ``run_id`` (called by the runner)."""
    if run_id not in _watchers:  # the common case, without the lock
        return
    with _watch_lock:
        for event in _watchers.get(run_id, ()):
            event.set()


def await_run(run_id: str, read: Callable[[], Row | None], row: Row, wait: float) -> Row:
    """Re-read the run until it ends or ``wait`` seconds pass; return the last row.

    A change made in this process wakes us at once (``watch``); one made elsewhere is seen
    within 1-20 ms (the re-read interval grows while nothing happens).
    """
    if wait <= 0 or row["status"] in TERMINAL_RUN_STATUSES:
        return row
    deadline = time.monotonic() + wait
    pause = 0.001
    with watch(run_id) as changed:
        row = read() or row  # registered first: a change from now on sets ``changed``
        while row["status"] not in TERMINAL_RUN_STATUSES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            changed.wait(min(pause, left))
            pause = min(0.02, pause * 2)
            changed.clear()
            row = read() or row
    return row


class HookNotFound(LookupError):
    """No live hook has this token."""


def trigger(conn: Connection, workflow_name: str, args: Any, kwargs: Any, *,
            deployment_id: str, trigger_type: str,
            concurrency_limit: int | None = None, input_json: str | None = None) -> Row:
    """Create a pending run, its ``run_created`` event and its queue message in one
    transaction (joining the caller's, if any). ``input_json`` (``encode_input(args,
    kwargs)``, made before the caller's transaction) saves encoding under the write lock."""
    if input_json is None:
        input_json = encode_input(args, kwargs)
    with conn.transaction():
        run = runs.create(conn, workflow_name, deployment_id, trigger_type, input_json)
        queue.enqueue_run(conn, run["id"], deployment_id, concurrency_limit)
    return run


def trigger_claimed(conn: Connection, workflow_name: str, *, deployment_id: str,
                    trigger_type: str, input_json: str, owner: tuple[str, int, int]
                    ) -> tuple[Row, Row]:
    """``trigger``, with the run's message claimed by ``owner`` (host, pid, lease ms) and
    the run started in the same commit; returns (run, message) for the caller to execute
    at once. Saves a claim transaction and two thread hand-offs per run."""
    host, pid, lease_ms = owner
    with conn.transaction():
        run = runs.create(conn, workflow_name, deployment_id, trigger_type, input_json,
                          started=True)
        message = queue.enqueue_claimed(conn, run["id"], deployment_id, host, pid, lease_ms)
    return run, message


def encode_input(args: Any, kwargs: Any) -> str:
    """A run's stored input: its arguments as tagged JSON."""
    return payloads.dumps({"args": tuple(args or ()), "kwargs": dict(kwargs or {})},
                          "run arguments")


def cancel(conn: Connection, run_id: str) -> Row:
    """pending/running -> cancelled; ``WorldConflict`` if already terminal, ``LookupError``
    if unknown. Claimed work notices at its next fenced write and stops."""
    with conn.transaction():
        run = runs.get(conn, run_id)
        if run is None:
            raise LookupError(run_id)
        queue.lock_for_run(conn, run_id)  # lock order: messages, hooks, run
        if run["status"] not in TERMINAL_RUN_STATUSES:
            hooks.dispose_for_run(conn, run_id)
        run = runs.cancel(conn, run_id)
        queue.delete_unclaimed_for_run(conn, run_id)
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
        # Lock order matches a finishing run (its message, then its hooks): the other
        # order deadlocks on PostgreSQL when a resume races the run's end.
        queue.enqueue_run(conn, run["id"], run["deployment_id"])
        hooks.receive(conn, hook, payload_json)
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


__all__ = ["HookNotFound", "WorldConflict", "await_run", "cancel", "current_executor",
           "install_executor", "resume_hook", "run_changed", "run_json", "trigger", "wake",
           "watch"]

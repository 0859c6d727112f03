"""World operations shared by the HTTP API, the local world and the CLI: cancel a run and
resume a hook. (Starting a run is ``engine.runs``; rendering is ``engine.render``.)

Each operation is one transaction; the caller wakes its runtime's executor afterwards.
"""

from __future__ import annotations

from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import (
    TERMINAL_RUN_STATUSES,
    WorldConflict,
    hooks,
    queue,
    runs,
)


class HookNotFound(LookupError):
    """No live hook has this token."""


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


def resume_hook(conn: Connection, token: str, payload: Any,
                max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES) -> Row:
    """Deliver ``payload`` to the live hook ``token`` and wake its run; returns the hook.
    ``payloads.PayloadTooLarge`` when it is over ``max_payload_bytes`` as JSON."""
    payload_json = payloads.dumps(payload, "hook payload", max_payload_bytes)
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


__all__ = ["HookNotFound", "WorldConflict", "cancel", "resume_hook"]

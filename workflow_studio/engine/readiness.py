"""Whether a run waits for an executor: ready to execute, yet nobody executes it.

Derived when the run is read (nothing is written for it), from its queue messages: the run
is not finished, none of its messages is held by a live process, and one of them has been
claimable for more than ``GRACE_MS`` (visible and unclaimed, or its lease ran out) or is held
by a process of this machine that is certainly dead (``owners``). A live executor that can
run it takes a claimable message within milliseconds, so past the grace this means: no live
process that can execute the run has a free slot, in a local world usually because no
process that imported the workflow is executing (a reader never executes anything).

Such a run reads as ``waitingOn: {"type": "executor", "workflow": name}``; whatever it
waited on before (a sleep that has ended, a step that was running when its process died) is
past. The worker stores the same shape, with ``error`` and ``retryAt``, on a run whose
deployment a process could not load for a transient reason (``runner``).
"""

from __future__ import annotations

import json
from typing import Any

from workflow_studio.compute.clock import now_ms
from workflow_studio.engine.owners import certainly_dead
from workflow_studio.storage import Connection, Row
from workflow_studio.storage.world import TERMINAL_RUN_STATUSES, queue

GRACE_MS = 1000


def waiting_for_executor(conn: Connection, run: Row, own_node: str) -> dict[str, Any] | None:
    """``{"type": "executor", "workflow": ...}`` if the run waits for one (module docstring),
    else None. ``own_node``: the reader's node, to recognise processes of its machine."""
    if run["status"] in TERMINAL_RUN_STATUSES:
        return None
    ready_before = now_ms() - GRACE_MS
    ready = False
    for holder in queue.holders(conn, run["id"]):
        node, pid = holder["claimed_by_host"], holder["claimed_by_pid"]
        if node is None:
            ready = ready or holder["visible_at"] <= ready_before
        elif holder["lease_expires_at"] <= ready_before or certainly_dead(node, pid, own_node):
            ready = True
        else:
            return None  # a live process is executing it
    return {"type": "executor", "workflow": run["workflow_name"]} if ready else None


def as_read(conn: Connection, run: Row, own_node: str) -> Row:
    """The run's row with ``waiting_json`` saying so when it waits for an executor."""
    waiting = waiting_for_executor(conn, run, own_node)
    if waiting is None:
        return run
    return {**run, "waiting_json": json.dumps(waiting)}

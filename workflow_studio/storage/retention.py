"""Retention: what the control plane keeps only for a while is deleted in bounded batches,
by one process at a time across every process and node.

- audit rows and webhook delivery records older than ``audit_days`` (0: kept forever);
- failed-authentication windows that have ended (the throttle only reads the current one).

``run_pass`` is called often by every process (the engine's heartbeat, through the
``Runtime``'s purge hook); it does work only where it claims the pass's slot in
``maintenance_slots`` (one UPDATE that succeeds for one caller per ``INTERVAL_MS``), so
processes never purge at once, and a pass deletes at most ``MAX_BATCHES`` batches of
``BATCH`` rows per table, each batch its own short transaction, so the write lock is
never held for long. A backlog (e.g. after retention was first turned on) is worked off
over the following passes.
"""

from __future__ import annotations

from collections.abc import Callable

from workflow_studio.storage import audit, ratelimit, webhooks
from workflow_studio.storage.base import Connection

SLOT = "retention"
INTERVAL_MS = 60_000
BATCH = 500
MAX_BATCHES = 10
DAY_MS = 86_400_000
WINDOW_MS = 60_000


def claim_slot(conn: Connection, name: str, now_ms: int, interval_ms: int) -> bool:
    """True for the one caller that may run pass ``name`` now; it then owns the slot for
    ``interval_ms``. Concurrent callers serialise on the slot's row, and only the first
    finds it due."""
    with conn.transaction():
        conn.execute("INSERT INTO maintenance_slots (name, next_at) VALUES (?, 0)"
                     " ON CONFLICT (name) DO NOTHING", (name,))
        claimed = conn.execute(
            "UPDATE maintenance_slots SET next_at = ? WHERE name = ? AND next_at <= ?",
            (now_ms + interval_ms, name, now_ms))
    return claimed == 1


def _batches(purge: Callable[[int], int]) -> int:
    deleted = 0
    for _ in range(MAX_BATCHES):
        count = purge(BATCH)
        deleted += count
        if count < BATCH:
            break
    return deleted


def run_pass(conn: Connection, now_ms: int, audit_days: int) -> dict[str, int] | None:
    """One retention pass if this caller claims the slot (else None): rows deleted by table."""
    if not claim_slot(conn, SLOT, now_ms, INTERVAL_MS):
        return None
    done = {"auth_failure_windows": _batches(
        lambda n: ratelimit.purge_auth_failures(conn, now_ms - WINDOW_MS, n))}
    if audit_days > 0:
        cutoff = now_ms - audit_days * DAY_MS
        done["audit_log"] = _batches(lambda n: audit.purge_before(conn, cutoff, n))
        done["webhook_deliveries"] = _batches(
            lambda n: webhooks.purge_deliveries_before(conn, cutoff, n))
    return done

"""Hooks: a run waits on a token until an outside caller delivers one payload.

Statuses: pending -> received; ``conflict`` when the token was already live elsewhere
(recorded, so a replay sees the same outcome). A token is unique among live hooks (not
disposed); hooks are disposed when their run ends.
"""

from __future__ import annotations

import json

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import WorldConflict, events


def for_run(conn: Connection, run_id: str) -> list[Row]:
    return conn.query("SELECT * FROM workflow_hooks WHERE run_id = ? ORDER BY seq", (run_id,))


def get(conn: Connection, hook_id: str) -> Row | None:
    return conn.query_one("SELECT * FROM workflow_hooks WHERE id = ?", (hook_id,))


def get_live_by_token(conn: Connection, token: str) -> Row | None:
    return conn.query_one(
        "SELECT * FROM workflow_hooks WHERE token = ? AND disposed_at IS NULL"
        " AND status != 'conflict'", (token,))


def create(conn: Connection, run_id: str, seq: int, token: str,
           metadata: object = None) -> Row:
    """A pending hook; if the token is live elsewhere, a ``conflict`` hook is recorded."""
    hook_id, at = new_id("hook"), now_ms()
    metadata_json = None if metadata is None else json.dumps(metadata)
    status = "pending"
    events.append(conn, run_id, "hook_created", hook_id, {"token": token, "seq": seq}, at)
    conn.lock(f"hook-token:{token}")  # check-then-insert of one token, not of every token
    if get_live_by_token(conn, token) is None:
        conn.execute(
            "INSERT INTO workflow_hooks (id, run_id, seq, token, status, metadata_json,"
            " created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (hook_id, run_id, seq, token, metadata_json, at))
    else:
        status = "conflict"
        conn.execute(
            "INSERT INTO workflow_hooks (id, run_id, seq, token, status, metadata_json,"
            " created_at, disposed_at) VALUES (?, ?, ?, ?, 'conflict', ?, ?, ?)",
            (hook_id, run_id, seq, token, metadata_json, at, at))
        events.append(conn, run_id, "hook_conflict", hook_id, {"token": token}, at)
    return {"id": hook_id, "run_id": run_id, "seq": seq, "token": token, "status": status,
            "payload_json": None, "timeout_at": None, "metadata_json": metadata_json}


def receive(conn: Connection, hook: Row, payload_json: str) -> None:
    """Deliver the payload (pending -> received)."""
    at = now_ms()
    changed = conn.execute(
        "UPDATE workflow_hooks SET status = 'received', payload_json = ?, received_at = ?"
        " WHERE id = ? AND status = 'pending' AND disposed_at IS NULL",
        (payload_json, at, hook["id"]))
    if not changed:
        raise WorldConflict(f"hook {hook['id']} already received its payload")
    events.append(conn, hook["run_id"], "hook_received", hook["id"], None, at)


def set_timeout(conn: Connection, hook_id: str, timeout_at: int) -> None:
    conn.execute("UPDATE workflow_hooks SET timeout_at = ? WHERE id = ? AND timeout_at IS NULL",
                 (timeout_at, hook_id))


def dispose_for_run(conn: Connection, run_id: str) -> None:
    """Free every live token of a finished run (``hook_disposed`` events)."""
    at = now_ms()
    for row in conn.query("SELECT id FROM workflow_hooks WHERE run_id = ? AND"
                          " disposed_at IS NULL", (run_id,)):
        conn.execute("UPDATE workflow_hooks SET disposed_at = ? WHERE id = ?", (at, row["id"]))
        events.append(conn, run_id, "hook_disposed", row["id"], None, at)


def dispose(conn: Connection, hook: Row) -> None:
    at = now_ms()
    if conn.execute("UPDATE workflow_hooks SET disposed_at = ? WHERE id = ? AND"
                    " disposed_at IS NULL", (at, hook["id"])):
        events.append(conn, hook["run_id"], "hook_disposed", hook["id"], None, at)

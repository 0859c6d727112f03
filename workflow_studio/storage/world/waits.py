"""Waits: a durable sleep of a run until ``resume_at`` (waiting -> completed)."""

from __future__ import annotations

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import events


def for_run(conn: Connection, run_id: str) -> list[Row]:
    return conn.query("SELECT * FROM workflow_waits WHERE run_id = ? ORDER BY seq", (run_id,))


def create(conn: Connection, run_id: str, seq: int, resume_at: int) -> Row:
    wait_id, at = new_id("wait"), now_ms()
    events.append(conn, run_id, "wait_created", wait_id, {"resumeAt": resume_at, "seq": seq}, at)
    conn.execute("INSERT INTO workflow_waits (id, run_id, seq, status, resume_at, created_at)"
                 " VALUES (?, ?, ?, 'waiting', ?, ?)", (wait_id, run_id, seq, resume_at, at))
    return {"id": wait_id, "run_id": run_id, "seq": seq, "status": "waiting",
            "resume_at": resume_at}


def complete(conn: Connection, wait: Row) -> None:
    at = now_ms()
    if conn.execute("UPDATE workflow_waits SET status = 'completed', completed_at = ?"
                    " WHERE id = ? AND status = 'waiting'", (at, wait["id"])):
        events.append(conn, wait["run_id"], "wait_completed", wait["id"], None, at)
    wait["status"] = "completed"

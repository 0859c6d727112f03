"""Workflow runs: pending -> running -> completed | failed | cancelled.

A parked run (sleeping, waiting on a hook, a retry backoff or fanned-out steps) stays
``running`` and says what it waits on in ``waiting_json``. Terminal states are final: a
transition out of one raises ``WorldConflict``.
"""

from __future__ import annotations

import json
from typing import Any

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import WorldConflict, events


def create(conn: Connection, workflow_name: str, deployment_id: str, trigger_type: str,
           input_json: str, run_id: str | None = None, started: bool = False,
           schedule: tuple[str, int | None] | None = None) -> Row:
    """Insert a pending run and its ``run_created`` event (``started``: a running run,
    followed by its ``run_started`` event, for a run its creator executes at once).

    ``schedule``: (schedule id, tick) of a run a schedule started; (schedule_id,
    scheduled_at) is unique, so a second run for one tick is an ``IntegrityError``."""
    run_id = run_id or new_id("wrun")
    at = now_ms()
    schedule_id, scheduled_at = schedule or (None, None)
    row = conn.query_one(
        "INSERT INTO workflow_runs (id, workflow_name, deployment_id, trigger_type, status,"
        " input_json, created_at, updated_at, started_at, schedule_id, scheduled_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (run_id, workflow_name, deployment_id, trigger_type,
         "running" if started else "pending", input_json, at, at, at if started else None,
         schedule_id, scheduled_at))
    details: dict[str, Any] = {"workflowName": workflow_name, "deploymentId": deployment_id,
                               "triggerType": trigger_type}
    if schedule_id is not None:
        details.update(scheduleId=schedule_id, scheduledAt=scheduled_at)
    created = (run_id, "run_created", run_id, details, at)
    if started:
        events.append_many(conn, [created, (run_id, "run_started", run_id, None, at)])
    else:
        events.append(conn, *created)
    assert row is not None
    return row


def get(conn: Connection, run_id: str) -> Row | None:
    return conn.query_one("SELECT * FROM workflow_runs WHERE id = ?", (run_id,))


def status(conn: Connection, run_id: str) -> str | None:
    row = conn.query_one("SELECT status FROM workflow_runs WHERE id = ?", (run_id,))
    return row["status"] if row else None


def _transition(conn: Connection, run_id: str, new_status: str, sets: str,
                params: tuple[Any, ...], event_type: str, payload: Any) -> Row:
    """One conditional UPDATE (it locks the row on PostgreSQL), so a cancel and a
    completion cannot both leave a terminal state; the status is read only to explain a
    refusal. Returns the run as it now is, so nobody reads it again to answer."""
    at = now_ms()
    row = conn.query_one(
        f"UPDATE workflow_runs SET status = ?, updated_at = ?{sets} WHERE id = ?"
        " AND status IN ('pending', 'running') RETURNING *", (new_status, at, *params, run_id))
    if row is None:
        current = status(conn, run_id)
        if current is None:
            raise WorldConflict(f"run {run_id} does not exist")
        raise WorldConflict(f"run {run_id} is already {current}")
    events.append(conn, run_id, event_type, run_id, payload, at)
    return row


def mark_started(conn: Connection, run_id: str) -> None:
    """pending -> running (once); ``run_started`` event. The executor calls it in the
    transaction that claims the run's message, so it also clears what a resumed run waited
    on (``waiting_json``): the run executes now, and writes a new one if it parks again."""
    at = now_ms()
    changed = conn.execute(
        "UPDATE workflow_runs SET status = 'running', started_at = ?, updated_at = ?"
        " WHERE id = ? AND status = 'pending'", (at, at, run_id))
    if changed:
        events.append(conn, run_id, "run_started", run_id, None, at)
    else:
        conn.execute("UPDATE workflow_runs SET waiting_json = NULL, updated_at = ? WHERE id = ?"
                     " AND status = 'running' AND waiting_json IS NOT NULL", (at, run_id))


def set_waiting(conn: Connection, run_id: str, waiting: dict[str, Any] | None) -> None:
    conn.execute("UPDATE workflow_runs SET waiting_json = ?, updated_at = ? WHERE id = ?"
                 " AND status IN ('pending', 'running')",
                 (None if waiting is None else json.dumps(waiting), now_ms(), run_id))


def complete(conn: Connection, run_id: str, output_json: str) -> Row:
    return _transition(conn, run_id, "completed",
                       ", output_json = ?, waiting_json = NULL, completed_at = ?",
                       (output_json, now_ms()), "run_completed", None)


def fail(conn: Connection, run_id: str, error: dict[str, Any]) -> Row:
    return _transition(conn, run_id, "failed",
                       ", error_json = ?, waiting_json = NULL, completed_at = ?",
                       (json.dumps(error), now_ms()), "run_failed", {"error": error})


def cancel(conn: Connection, run_id: str) -> Row:
    return _transition(conn, run_id, "cancelled", ", waiting_json = NULL, completed_at = ?",
                       (now_ms(),), "run_cancelled", None)


def list_runs(conn: Connection, *, status: str | None = None, workflow: str | None = None,
              trigger_type: str | None = None, created_from: int | None = None,
              created_to: int | None = None, cursor: str | None = None,
              limit: int = 100, schedule_id: str | None = None) -> tuple[list[Row], bool]:
    """Newest first, ``limit`` at a time; returns (rows, has_more). ``cursor`` is a run id."""
    where: list[str] = []
    params: list[str | int] = []
    for column, value in (("status", status), ("workflow_name", workflow),
                          ("trigger_type", trigger_type), ("schedule_id", schedule_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if created_from is not None:
        where.append("created_at >= ?")
        params.append(created_from)
    if created_to is not None:
        where.append("created_at <= ?")
        params.append(created_to)
    if cursor:
        where.append("id < ?")
        params.append(cursor)
    sql = "SELECT * FROM workflow_runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit + 1))
    return rows[:limit], len(rows) > limit

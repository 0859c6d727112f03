"""Step records: one row per step call of a run, keyed by its call order (``seq``).

Statuses: pending (dispatched, not started), running, retrying (waiting for ``retry_at``),
completed, failed. ``completed`` and ``failed`` are final; the recorded result is what every
replay returns, so it is written exactly once. ``args_digest`` identifies the call's
arguments (``engine.log.args_digest``; NULL for steps recorded before it existed), so a
replay can tell a recorded call from a changed one.

Every step event names its step (``stepName``), so a reader of the event log needs no join.
An error in an event leaves out its ``stack`` (up to 64 KB, kept on the step's row).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Params, Row
from workflow_studio.storage.world import WorldConflict, events

FINAL = ("completed", "failed")
_encode = json.JSONEncoder(separators=(",", ":")).encode


def for_run(conn: Connection, run_id: str) -> list[Row]:
    return conn.query("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY seq", (run_id,))


def get(conn: Connection, run_id: str, seq: int) -> Row | None:
    return conn.query_one("SELECT * FROM workflow_steps WHERE run_id = ? AND seq = ?",
                          (run_id, seq))


def get_by_id(conn: Connection, step_id: str) -> Row | None:
    return conn.query_one("SELECT * FROM workflow_steps WHERE id = ?", (step_id,))


def create(conn: Connection, run_id: str, seq: int, name: str, input_json: str | None,
           dispatched: bool = False, args_digest: str | None = None) -> Row:
    """A new step (status pending) and its ``step_created`` event."""
    step_id, at = new_id("step"), now_ms()
    events.append(conn, run_id, "step_created", step_id, {"stepName": name, "seq": seq}, at)
    conn.execute(
        "INSERT INTO workflow_steps (id, run_id, seq, step_name, status, input_json,"
        " args_digest, dispatched, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
        (step_id, run_id, seq, name, input_json, args_digest, int(dispatched), at, at))
    return {"id": step_id, "run_id": run_id, "seq": seq, "step_name": name,
            "status": "pending", "attempt": 0, "input_json": input_json,
            "args_digest": args_digest, "output_json": None, "error_json": None,
            "retry_at": None, "dispatched": int(dispatched)}


# (run_id, seq, name, input_json, output_json, started_at, completed_at, args_digest)
CompletedStep = tuple[str, int, str, str | None, str, int, int, str | None]


def record_completed(conn: Connection, records: list[CompletedStep]) -> list[str]:
    """Steps that ran inline and succeeded on their first attempt (``CompletedStep``): the
    rows and their created/started/completed events in two statements per 50 steps (the
    hot path; 50 keeps each statement under SQLite's historical limit of 999 parameters)."""
    return write_completed(conn, prepare_completed(records))


class PreparedSteps:
    """``record_completed``'s statements, built before the write transaction."""

    __slots__ = ("ids", "statements")

    def __init__(self, ids: list[str], statements: list[tuple[str, list[Params], bool]]
                 ) -> None:
        self.ids, self.statements = ids, statements


def prepare_completed(records: list[CompletedStep]) -> PreparedSteps:
    """Ids and statements for ``record_completed``, built without a connection: the engine
    builds them before it takes the write lock, so the lock is held only to execute."""
    prepared = PreparedSteps([], [])
    for start in range(0, len(records), 50):
        chunk = records[start:start + 50]
        rows: list[Params] = []
        event_rows: list[events.EventRow] = []
        for run_id, seq, name, input_json, output_json, started_at, at, digest in chunk:
            step_id = new_id("step")
            prepared.ids.append(step_id)
            rows.append((step_id, run_id, seq, name, input_json, digest, output_json,
                         started_at, started_at, at, at))
            named = f'{{"stepName":{_encode(name)}'  # the events' fixed shapes, formatted
            event_rows += [
                (run_id, "step_created", step_id, events.RawJSON(f'{named},"seq":{seq}}}'),
                 started_at),
                (run_id, "step_started", step_id, events.RawJSON(f'{named},"attempt":1}}'),
                 started_at),
                (run_id, "step_completed", step_id, events.RawJSON(named + "}"), at)]
        prepared.statements.append((
            "INSERT INTO workflow_steps (id, run_id, seq, step_name, status, input_json,"
            " args_digest, output_json, attempt, created_at, started_at, completed_at,"
            " updated_at) VALUES (?, ?, ?, ?, 'completed', ?, ?, ?, 1, ?, ?, ?, ?)", rows,
            False))
        prepared.statements.append((*events.prepare_many(event_rows), True))
    return prepared


def write_completed(conn: Connection, prepared: PreparedSteps) -> list[str]:
    """Execute what ``prepare_completed`` built; returns the step ids."""
    for sql, params, is_events in prepared.statements:
        if is_events:
            events.execute_prepared(conn, (sql, params))
        else:
            conn.insert_many(sql, params)
    return prepared.ids


def _without_stack(error: Mapping[str, object]) -> Mapping[str, object]:
    return {k: v for k, v in error.items() if k != "stack"} if "stack" in error else error


def _check_open(step: Row) -> None:
    if step["status"] in FINAL:
        raise WorldConflict(f"step {step['id']} is already {step['status']}")


def start(conn: Connection, step: Row) -> int:
    """Begin an attempt; returns the attempt number (1-based)."""
    _check_open(step)
    attempt, at = int(step["attempt"]) + 1, now_ms()
    conn.execute("UPDATE workflow_steps SET status = 'running', attempt = ?, started_at ="
                 " COALESCE(started_at, ?), retry_at = NULL, updated_at = ? WHERE id = ?",
                 (attempt, at, at, step["id"]))
    events.append(conn, step["run_id"], "step_started", step["id"],
                  {"stepName": step["step_name"], "attempt": attempt}, at)
    step.update(status="running", attempt=attempt, retry_at=None)
    return attempt


def complete(conn: Connection, step: Row, output_json: str) -> None:
    _check_open(step)
    at = now_ms()
    conn.execute("UPDATE workflow_steps SET status = 'completed', output_json = ?,"
                 " completed_at = ?, updated_at = ? WHERE id = ?",
                 (output_json, at, at, step["id"]))
    events.append(conn, step["run_id"], "step_completed", step["id"],
                  {"stepName": step["step_name"]}, at)
    step.update(status="completed", output_json=output_json)


def fail(conn: Connection, step: Row, error: Mapping[str, object]) -> None:
    _check_open(step)
    at, error_json = now_ms(), json.dumps(error)
    conn.execute("UPDATE workflow_steps SET status = 'failed', error_json = ?,"
                 " completed_at = ?, updated_at = ? WHERE id = ?",
                 (error_json, at, at, step["id"]))
    events.append(conn, step["run_id"], "step_failed", step["id"],
                  {"stepName": step["step_name"], "error": _without_stack(error)}, at)
    step.update(status="failed", error_json=error_json)


def retry(conn: Connection, step: Row, error: Mapping[str, object], retry_at: int) -> None:
    _check_open(step)
    at, error_json = now_ms(), json.dumps(error)
    conn.execute("UPDATE workflow_steps SET status = 'retrying', error_json = ?, retry_at = ?,"
                 " updated_at = ? WHERE id = ?", (error_json, retry_at, at, step["id"]))
    events.append(conn, step["run_id"], "step_retrying", step["id"],
                  {"stepName": step["step_name"], "error": _without_stack(error),
                   "retryAt": retry_at, "attempt": step["attempt"]}, at)
    step.update(status="retrying", error_json=error_json, retry_at=retry_at)

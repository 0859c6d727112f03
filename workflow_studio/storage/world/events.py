"""The event log: append-only, one row per state change, ordered by ``position``.

Creation events (run/step/hook/wait created) are unique per (run, type, correlation id): a
replayed or duplicated creation is refused with ``WorldConflict`` instead of forking history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, IntegrityError, Params, Row
from workflow_studio.storage.world import WorldConflict

TABLE = "workflow_events"
_encode = json.JSONEncoder(separators=(",", ":")).encode  # made once, not per event
EventRow = tuple[str, str, str | None, object, int]  # run_id, type, correlation id, payload, at


class RawJSON(str):
    """A payload already encoded (compactly): stored as is. The engine's per-step events
    have fixed shapes, so it formats them instead of encoding a dict per event."""


def _payload_json(payload: object) -> str | None:
    if payload is None:
        return None
    return payload if isinstance(payload, RawJSON) else _encode(payload)


def append(conn: Connection, run_id: str, event_type: str, correlation_id: str | None = None,
           payload: object = None, at: int | None = None) -> str:
    """Append one event; returns its id. Call inside the entity's transaction."""
    event_id = new_id("evnt")
    conn.hold_positions(TABLE)
    try:
        conn.execute(
            "INSERT INTO workflow_events (id, run_id, event_type, correlation_id, payload_json,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, run_id, event_type, correlation_id,
             _payload_json(payload), now_ms() if at is None else at))
    except IntegrityError as exc:
        raise WorldConflict(
            f"{event_type} for {correlation_id or run_id} already recorded") from exc
    return event_id


def prepare_many(rows: Sequence[EventRow]) -> tuple[str, list[Params]]:
    """The statement ``append_many`` runs, built without a connection (so a caller can
    build it before taking the write lock)."""
    values: list[Params] = [
        (new_id("evnt"), run_id, event_type, correlation_id, _payload_json(payload), at)
        for run_id, event_type, correlation_id, payload, at in rows]
    return (_INSERT, values)


_INSERT = ("INSERT INTO workflow_events (id, run_id, event_type, correlation_id, payload_json,"
           " created_at) VALUES (?, ?, ?, ?, ?, ?)")


def execute_prepared(conn: Connection, statement: tuple[str, Sequence[Params]]) -> None:
    conn.hold_positions(TABLE)
    try:
        conn.insert_many(*statement)
    except IntegrityError as exc:
        raise WorldConflict(f"creation event already recorded: {exc}") from exc


def append_many(conn: Connection, rows: Sequence[EventRow]) -> None:
    """Append several (run_id, event_type, correlation_id, payload, at) events at once."""
    execute_prepared(conn, prepare_many(rows))


def _public(row: Row) -> Row:
    payload = row.pop("payload_json")
    row["payload"] = json.loads(payload) if payload else None
    return row


def settled(conn: Connection) -> tuple[str, tuple[int, ...]]:
    """A condition (and its parameter) for readers: only positions no open transaction can
    still commit below, so a cursor never steps past an event that commits a moment late
    (see ``Connection.settled_position``). Empty where positions come in commit order."""
    bound = conn.settled_position(TABLE)
    return ("", ()) if bound is None else (" AND position <= ?", (bound,))


def list_for_run(conn: Connection, run_id: str, after: int = 0, limit: int = 1000) -> list[Row]:
    condition, bound = settled(conn)
    rows = conn.query(
        "SELECT position, id, run_id, event_type, correlation_id, payload_json, created_at"
        f" FROM workflow_events WHERE run_id = ? AND position > ?{condition}"
        " ORDER BY position LIMIT ?", (run_id, after, *bound, limit))
    return [_public(r) for r in rows]


def list_by_correlation(conn: Connection, correlation_id: str, limit: int = 1000) -> list[Row]:
    condition, bound = settled(conn)
    rows = conn.query(
        "SELECT position, id, run_id, event_type, correlation_id, payload_json, created_at"
        f" FROM workflow_events WHERE correlation_id = ?{condition} ORDER BY position LIMIT ?",
        (correlation_id, *bound, limit))
    return [_public(r) for r in rows]

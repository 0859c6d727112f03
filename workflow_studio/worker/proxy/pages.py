"""Read-only, cursor-paginated queries over the world's tables for the world-proxy routes.

Every list is ``{limit <= 1000, cursor, sortOrder}`` -> ``(rows, next_cursor, has_more)``.
The cursor is the value of a unique, monotonic column of the last row returned (an event's
position, a step's seq, a ULID id), so pages stay stable while new rows are appended.
"""

from __future__ import annotations

import json
from typing import Any

from workflow_studio.storage.base import Connection, Row

_EVENT_COLUMNS = ("position, id, run_id, event_type, correlation_id, payload_json,"
                  " created_at")


def page(conn: Connection, table: str, key: str, filters: dict[str, Any],
         cursor: Any, limit: int, order: str, columns: str = "*", upto: int | None = None
         ) -> tuple[list[Row], Any, bool]:
    """Rows of ``table`` matching ``filters`` after ``cursor`` in ``key`` order (and no
    further than ``upto``)."""
    where: list[str] = []
    params: list[Any] = []
    if upto is not None:
        where.append(f"{key} <= ?")
        params.append(upto)
    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if cursor is not None:
        where.append(f"{key} {'<' if order == 'desc' else '>'} ?")
        params.append(cursor)
    sql = f"SELECT {columns} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {key} {'DESC' if order == 'desc' else 'ASC'} LIMIT ?"
    rows = conn.query(sql, (*params, limit + 1))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][key] if rows and has_more else None), has_more


def decode_event(row: Row) -> Row:
    payload = row.pop("payload_json")
    row["payload"] = json.loads(payload) if payload else None
    return row


def events(conn: Connection, *, run_id: str | None = None, correlation_id: str | None = None,
           cursor: int | None = None, limit: int = 100, order: str = "asc"
           ) -> tuple[list[Row], Any, bool]:
    rows, next_cursor, more = page(conn, "workflow_events", "position",
                                   {"run_id": run_id, "correlation_id": correlation_id},
                                   cursor, limit, order, _EVENT_COLUMNS,
                                   upto=conn.settled_position("workflow_events"))
    return [decode_event(r) for r in rows], next_cursor, more


def event(conn: Connection, event_id: str) -> Row | None:
    row = conn.query_one(f"SELECT {_EVENT_COLUMNS} FROM workflow_events WHERE id = ?",
                         (event_id,))
    return decode_event(row) if row else None


def last_position(conn: Connection, run_id: str) -> int:
    row = conn.query_one("SELECT MAX(position) AS p FROM workflow_events WHERE run_id = ?",
                         (run_id,))
    return int(row["p"]) if row and row["p"] is not None else 0


def events_since(conn: Connection, run_id: str, position: int) -> list[Row]:
    rows = conn.query(f"SELECT {_EVENT_COLUMNS} FROM workflow_events WHERE run_id = ? AND"
                      " position > ? ORDER BY position", (run_id, position))
    return [decode_event(r) for r in rows]


def hook_by_token(conn: Connection, token: str) -> Row | None:
    """The live hook with ``token``, else the newest one that ever had it."""
    return conn.query_one(
        "SELECT * FROM workflow_hooks WHERE token = ? ORDER BY disposed_at IS NULL DESC,"
        " status != 'conflict' DESC, created_at DESC, id DESC LIMIT 1", (token,))


def wait(conn: Connection, wait_id: str) -> Row | None:
    return conn.query_one("SELECT * FROM workflow_waits WHERE id = ?", (wait_id,))


def stream_info(conn: Connection, run_id: str, name: str) -> Row:
    row = conn.query_one(
        "SELECT SUM(CASE WHEN is_close = 0 THEN 1 ELSE 0 END) AS n, MAX(position) AS last,"
        " MAX(is_close) AS closed FROM stream_chunks WHERE run_id = ? AND name = ?",
        (run_id, name))
    row = row or {}
    return {"chunks": int(row.get("n") or 0), "lastPosition": row.get("last"),
            "closed": bool(row.get("closed") or 0)}

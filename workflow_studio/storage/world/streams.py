"""Stream chunks: append-only output a step writes and outsiders read while the run is live.

A stream is closed by a chunk with ``is_close = 1``; readers page by ``position``.
"""

from __future__ import annotations

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage.base import Connection, Row

TABLE = "stream_chunks"


def append(conn: Connection, run_id: str, name: str, data_json: str | None,
           close: bool = False) -> None:
    with conn.transaction():  # positions are held until commit (``read`` pages safely)
        conn.hold_positions(TABLE)
        conn.execute("INSERT INTO stream_chunks (run_id, name, data_json, is_close,"
                     " created_at) VALUES (?, ?, ?, ?, ?)",
                     (run_id, name, data_json, int(close), now_ms()))


def read(conn: Connection, run_id: str, name: str, after: int = 0,
         limit: int = 1000) -> list[Row]:
    """Chunks after ``after``, never past a position an open transaction may still take."""
    bound = conn.settled_position(TABLE)
    condition, extra = ("", ()) if bound is None else (" AND position <= ?", (bound,))
    return conn.query(
        "SELECT position, data_json, is_close, created_at FROM stream_chunks WHERE run_id = ?"
        f" AND name = ? AND position > ?{condition} ORDER BY position LIMIT ?",
        (run_id, name, after, *extra, limit))


def names(conn: Connection, run_id: str) -> list[str]:
    return [r["name"] for r in conn.query(
        "SELECT DISTINCT name FROM stream_chunks WHERE run_id = ? ORDER BY name", (run_id,))]

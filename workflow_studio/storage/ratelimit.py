"""Per-key request counters in fixed one-minute windows, shared by every process."""

from __future__ import annotations

from workflow_studio.storage.database import Connection


def hit(conn: Connection, key_id: str, window_start: int) -> int:
    """Count one request in the window and return the window's count so far."""
    with conn.transaction():
        row = conn.query_one(
            "INSERT INTO rate_limit_windows (key_id, window_start, count) VALUES (?, ?, 1)"
            " ON CONFLICT (key_id, window_start) DO UPDATE SET count = rate_limit_windows.count + 1"
            " RETURNING count",
            (key_id, window_start),
        )
        assert row is not None
        if row["count"] == 1:
            # A new window opened: drop this key's old ones in the same commit, once.
            conn.execute("DELETE FROM rate_limit_windows WHERE key_id = ? AND window_start < ?",
                         (key_id, window_start))
    return int(row["count"])

"""Counters in fixed one-minute windows, shared by every process (and node) through the
database: requests per API key (``rate_limit_windows``) and failed authentications per
bucket (``auth_failure_windows``: a client address, or a key prefix; the worker's
``security`` module names the buckets)."""

from __future__ import annotations

from collections.abc import Sequence

from workflow_studio.storage.base import Connection


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


def auth_failures(conn: Connection, buckets: Sequence[str], window_start: int) -> int:
    """The most failed authentications any of ``buckets`` has in the window (a read: a
    refused request writes nothing)."""
    marks = ", ".join("?" * len(buckets))
    row = conn.query_one(
        f"SELECT MAX(count) AS n FROM auth_failure_windows WHERE window_start = ? AND"
        f" bucket IN ({marks})", (window_start, *buckets))
    return int(row["n"]) if row is not None and row["n"] is not None else 0


def count_auth_failure(conn: Connection, buckets: Sequence[str], window_start: int) -> int:
    """Count one failed authentication in each bucket's window, in one commit; return the
    highest of their counts so far."""
    counts = []
    with conn.transaction():
        for bucket in buckets:
            row = conn.query_one(
                "INSERT INTO auth_failure_windows (bucket, window_start, count)"
                " VALUES (?, ?, 1) ON CONFLICT (bucket, window_start)"
                " DO UPDATE SET count = auth_failure_windows.count + 1 RETURNING count",
                (bucket, window_start))
            assert row is not None
            counts.append(int(row["count"]))
    return max(counts)


def purge_auth_failures(conn: Connection, before: int, limit: int) -> int:
    """Delete up to ``limit`` failure windows that started before ``before`` (ms).

    A bucket that sees no new failure never opens a new window, so nothing else would
    ever delete its last one: clients that come and go (or rotate addresses) would leave
    a row each behind."""
    with conn.transaction():
        return conn.execute(
            "DELETE FROM auth_failure_windows WHERE (bucket, window_start) IN (SELECT bucket,"
            " window_start FROM auth_failure_windows WHERE window_start < ? LIMIT ?)",
            (before, limit))

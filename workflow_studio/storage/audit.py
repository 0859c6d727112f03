"""The audit log: one row per state-changing request, and one row per (credential, client,
window) for failed authentications, whose ``count`` grows instead of the table.

Aggregated rows carry an ``aggregate_key`` (unique; NULL on every other row) and are
upserted; ``query`` shows their ``count`` and the time of the last failure in ``metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from workflow_studio.compute.clock import iso
from workflow_studio.storage.base import Connection, Row


def _json(metadata: Mapping[str, object]) -> str:
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True)


def record(conn: Connection, *, created_at: int, key_id: str | None, method: str, route: str,
           path: str, status: int, correlation_id: str, run_id: str | None,
           metadata: Mapping[str, object]) -> None:
    conn.execute(
        "INSERT INTO audit_log (created_at, key_id, method, route, path, status,"
        " correlation_id, run_id, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (created_at, key_id, method, route, path, status, correlation_id, run_id,
         _json(metadata)),
    )


def record_aggregated(conn: Connection, *, aggregate_key: str, at: int, method: str,
                      route: str, path: str, status: int,
                      metadata: Mapping[str, object]) -> int:
    """Count one more event in the row of ``aggregate_key``, creating it (with this
    request's method, route, path and ``metadata``) for the first; returns the count.

    Such a row stands for many requests, so it names no key, correlation id or run id."""
    with conn.transaction():
        row = conn.query_one(
            "INSERT INTO audit_log (created_at, key_id, method, route, path, status,"
            " correlation_id, run_id, metadata_json, aggregate_key, count, last_at)"
            " VALUES (?, NULL, ?, ?, ?, ?, '-', NULL, ?, ?, 1, ?)"
            " ON CONFLICT (aggregate_key) DO UPDATE SET count = audit_log.count + 1,"
            " last_at = excluded.last_at RETURNING count",
            (at, method, route, path, status, _json(metadata), aggregate_key, at))
    assert row is not None
    return int(row["count"])


def query(conn: Connection, *, correlation_id: str | None = None, key_id: str | None = None,
          after_id: int = 0, limit: int = 100) -> list[Row]:
    """Entries oldest first, filtered; ``after_id`` is the cursor."""
    clauses: list[str] = ["id > ?"]
    params: list[object] = [after_id]
    if correlation_id:
        clauses.append("correlation_id = ?")
        params.append(correlation_id)
    if key_id:
        clauses.append("key_id = ?")
        params.append(key_id)
    rows = conn.query(
        f"SELECT * FROM audit_log WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
        (*params, limit),
    )
    for row in rows:
        metadata = json.loads(row.pop("metadata_json"))
        count, last_at = row.pop("count", 1), row.pop("last_at", None)
        if row.pop("aggregate_key", None) is not None:
            metadata["count"] = count
            metadata["last_at"] = iso(last_at)
        row["metadata"] = metadata
    return rows


def purge_before(conn: Connection, before: int, limit: int) -> int:
    """Delete up to ``limit`` of the oldest rows created before ``before`` (ms)."""
    with conn.transaction():
        return conn.execute(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE created_at < ?"
            " ORDER BY created_at LIMIT ?)", (before, limit))

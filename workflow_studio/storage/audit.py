"""The audit log: one row per state-changing request and per auth failure."""

from __future__ import annotations

import json
from collections.abc import Mapping

from workflow_studio.storage.base import Connection, Row


def record(conn: Connection, *, created_at: int, key_id: str | None, method: str, route: str,
           path: str, status: int, correlation_id: str, run_id: str | None,
           metadata: Mapping[str, object]) -> None:
    conn.execute(
        "INSERT INTO audit_log (created_at, key_id, method, route, path, status,"
        " correlation_id, run_id, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (created_at, key_id, method, route, path, status, correlation_id, run_id,
         json.dumps(metadata, separators=(",", ":"), sort_keys=True)),
    )


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
        row["metadata"] = json.loads(row.pop("metadata_json"))
    return rows

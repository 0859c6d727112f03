"""Idempotency keys of ``POST /v1/runs``: scoped to the API key, kept for a retention period.

The row, the run, its first event and its queue message are written in one transaction, so
a replay always finds a run that exists, and two identical requests at the same instant
serialise on the write lock and produce one run.
"""

from __future__ import annotations

import json
from typing import Any

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage.base import Connection, Row


def get(conn: Connection, scope: str, key: str) -> Row | None:
    """The live record for (scope, key); an expired one is deleted and None returned.

    Call inside the trigger's transaction: it takes the key's lock first, so concurrent
    duplicates wait for the first to commit and then replay it.
    """
    conn.lock(f"idempotency:{scope}:{key}")
    row = conn.query_one("SELECT * FROM idempotency_keys WHERE scope = ? AND"
                         " idempotency_key = ?", (scope, key))
    if row is not None and row["expires_at"] <= now_ms():
        conn.execute("DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?",
                     (scope, key))
        return None
    return row


def record(conn: Connection, scope: str, key: str, request_hash: str, status_code: int,
           response: Any, run_id: str | None, retention_ms: int, *,
           response_json: str | None = None) -> None:
    """Store the first response (``response_json``: the same, already serialised)."""
    at = now_ms()
    conn.execute(
        "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, status_code,"
        " response_json, run_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (scope, key, request_hash, status_code,
         json.dumps(response) if response_json is None else response_json, run_id, at,
         at + retention_ms))


def purge_expired(conn: Connection, limit: int = 500) -> int:
    return conn.execute(
        "DELETE FROM idempotency_keys WHERE (scope, idempotency_key) IN (SELECT scope,"
        " idempotency_key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)",
        (now_ms(), limit))

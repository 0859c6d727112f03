"""Deterministic values (``now()``, ``uuid4()``, ``random()``) recorded by call order, so a
replayed workflow sees the values its first execution saw."""

from __future__ import annotations

from workflow_studio.storage.base import Connection, Row


def for_run(conn: Connection, run_id: str) -> list[Row]:
    return conn.query("SELECT seq, kind, value_json FROM workflow_values WHERE run_id = ?",
                      (run_id,))


def record(conn: Connection, run_id: str, seq: int, kind: str, value_json: str) -> None:
    conn.execute("INSERT INTO workflow_values (run_id, seq, kind, value_json)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", (run_id, seq, kind, value_json))

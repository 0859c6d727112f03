"""Deployment records and the active-deployment pointer.

Versions are assigned inside the write transaction that inserts the row, under
``conn.lock("deployments")`` (SQLite's BEGIN IMMEDIATE; an advisory lock on PostgreSQL; the
UNIQUE constraint backs it), so concurrent uploads on any node get distinct versions. The
pointer is one row (``id = 1``) switched in one transaction, under the same lock, together
with the deployments' statuses, recording who switched it, when, and from what (rollback).

Rows returned by ``get``/``get_active``/``list_deployments`` are dicts with every column plus
decoded ``workflows``, ``steps`` (lists of names) and ``manifest`` (dict); ``get_active`` adds
``pointer_activated_at``, ``pointer_activated_by_key_id`` and ``previous_deployment_id``.
Statuses: ``ready`` (uploaded, never active), ``active``, ``inactive`` (was active before).

On PostgreSQL the artifact's bytes and the raw manifest are stored with the record (same
transaction, table ``deployment_artifacts``) so any node can fetch, verify and unpack a
deployment it never received (``deployments/fetch.py``); on SQLite one node unpacked it at
upload and nothing more is kept.

Activation also checks, under the same lock, that every secret the deployment declares is
set (``MissingSecrets`` otherwise); ``storage.secrets.delete`` takes that lock to refuse
deleting a secret the active deployment declares, so neither can slip past the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage.base import Connection, Row

DEFAULT_RETRIES = 3
READY, ACTIVE, INACTIVE = "ready", "active", "inactive"


class MissingSecrets(Exception):
    """The deployment declares secrets that are not set; ``names`` lists them, sorted."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"secrets not set: {', '.join(names)}")
        self.names = names


def declared_secrets(row: Row) -> list[str]:
    """The secret names a deployment row's manifest declares."""
    manifest = row["manifest"] if "manifest" in row else json.loads(row["manifest_json"])
    return [str(s["name"]) for s in manifest.get("secrets", ()) if isinstance(s, dict)]


def _decode(row: Row | None) -> Row | None:
    if row is None:
        return None
    out = dict(row)
    out["workflows"] = json.loads(out["workflows_json"])
    out["steps"] = json.loads(out["steps_json"])
    out["manifest"] = json.loads(out["manifest_json"])
    return out


def create(conn: Connection, *, deployment_id: str, manifest: Mapping[str, object],
           artifact_sha256: str, artifact_size: int, workflows: list[str], steps: list[str],
           created_by_key_id: str | None, concurrency: int | None = None,
           step_timeout: float | None = None, default_retries: int = DEFAULT_RETRIES,
           created_at: int | None = None,
           artifact: tuple[bytes, bytes] | None = None) -> Row:
    """Record a verified upload with the next version number; return the stored row.

    ``artifact`` is (raw manifest, artifact bytes), stored alongside on PostgreSQL only.
    """
    with conn.transaction():
        conn.lock("deployments")
        top = conn.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM deployments")
        version = int(top["v"] if top else 0) + 1
        conn.execute(
            "INSERT INTO deployments (id, version, status, artifact_sha256, artifact_size,"
            " manifest_json, workflows_json, steps_json, concurrency, step_timeout,"
            " default_retries, created_at, created_by_key_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (deployment_id, version, READY, artifact_sha256, artifact_size,
             json.dumps(manifest, separators=(",", ":")), json.dumps(workflows),
             json.dumps(steps), concurrency, step_timeout, default_retries,
             now_ms() if created_at is None else created_at, created_by_key_id),
        )
        if artifact is not None and conn.dialect == "postgres":
            manifest_raw, data = artifact
            conn.execute(
                "INSERT INTO deployment_artifacts (deployment_id, manifest_raw, artifact,"
                " artifact_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (deployment_id, manifest_raw, data, artifact_sha256, now_ms()))
    row = get(conn, deployment_id)
    assert row is not None
    return row


def artifact(conn: Connection, deployment_id: str) -> tuple[bytes, bytes] | None:
    """The stored (raw manifest, artifact bytes) of a deployment, or None (not stored)."""
    row = conn.query_one("SELECT manifest_raw, artifact FROM deployment_artifacts"
                         " WHERE deployment_id = ?", (deployment_id,))
    if row is None:
        return None
    return bytes(row["manifest_raw"]), bytes(row["artifact"])


def get(conn: Connection, deployment_id: str) -> Row | None:
    return _decode(conn.query_one("SELECT * FROM deployments WHERE id = ?", (deployment_id,)))


def list_deployments(conn: Connection, *, before_version: int | None = None,
                     limit: int = 100) -> list[Row]:
    """Newest first; ``before_version`` is the cursor (the last version already seen)."""
    if before_version is None:
        rows = conn.query("SELECT * FROM deployments ORDER BY version DESC LIMIT ?", (limit,))
    else:
        rows = conn.query("SELECT * FROM deployments WHERE version < ?"
                          " ORDER BY version DESC LIMIT ?", (before_version, limit))
    return [r for r in map(_decode, rows) if r is not None]


def get_active(conn: Connection) -> Row | None:
    """The active deployment's row with the pointer's details, or None when none is active."""
    row = conn.query_one(
        "SELECT d.*, p.activated_at AS pointer_activated_at,"
        " p.activated_by_key_id AS pointer_activated_by_key_id, p.previous_deployment_id"
        " FROM active_deployment p JOIN deployments d ON d.id = p.deployment_id"
        " WHERE p.id = 1")
    return _decode(row)


def active_id(conn: Connection) -> str | None:
    row = conn.query_one("SELECT deployment_id FROM active_deployment WHERE id = 1")
    return row["deployment_id"] if row else None


def activate(conn: Connection, deployment_id: str, key_id: str | None,
             at_ms: int | None = None, required_secrets: tuple[str, ...] | list[str] = ()
             ) -> Row:
    """Point ``active`` at ``deployment_id`` atomically; return the new active row.

    Activating the deployment that is already active only refreshes who/when and keeps the
    recorded previous deployment, so a repeated activate cannot erase the rollback target.
    Raises ``MissingSecrets`` (and switches nothing) when one of ``required_secrets`` is
    not set.
    """
    at = now_ms() if at_ms is None else at_ms
    with conn.transaction():
        conn.lock("deployments")  # read-then-switch must not interleave with another switch
        if required_secrets:
            names = sorted(set(required_secrets))
            marks = ", ".join("?" for _ in names)
            present = {r["name"] for r in conn.query(
                f"SELECT name FROM secrets WHERE name IN ({marks})", tuple(names))}
            if set(names) - present:
                raise MissingSecrets(sorted(set(names) - present))
        current = conn.query_one(
            "SELECT deployment_id, previous_deployment_id FROM active_deployment WHERE id = 1")
        if current is None:
            previous = None
        elif current["deployment_id"] == deployment_id:
            previous = current["previous_deployment_id"]
        else:
            previous = current["deployment_id"]
        if current is not None and current["deployment_id"] != deployment_id:
            conn.execute("UPDATE deployments SET status = ? WHERE id = ?",
                         (INACTIVE, current["deployment_id"]))
        conn.execute("UPDATE deployments SET status = ?, activated_at = ?,"
                     " activated_by_key_id = ? WHERE id = ?",
                     (ACTIVE, at, key_id, deployment_id))
        conn.execute(
            "INSERT INTO active_deployment (id, deployment_id, activated_at,"
            " activated_by_key_id, previous_deployment_id) VALUES (1, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET deployment_id = excluded.deployment_id,"
            " activated_at = excluded.activated_at,"
            " activated_by_key_id = excluded.activated_by_key_id,"
            " previous_deployment_id = excluded.previous_deployment_id",
            (deployment_id, at, key_id, previous),
        )
        row = get_active(conn)  # inside the transaction: exactly what this call committed
    assert row is not None
    return row


def active_secret_names(conn: Connection) -> tuple[str, int, list[str]] | None:
    """(id, version, declared secret names) of the active deployment, or None."""
    row = conn.query_one(
        "SELECT d.id, d.version, d.manifest_json FROM active_deployment p JOIN deployments d"
        " ON d.id = p.deployment_id WHERE p.id = 1")
    if row is None:
        return None
    return str(row["id"]), int(row["version"]), declared_secrets(row)


def previous_active(conn: Connection) -> Row | None:
    """The deployment that was active before the current one (the default rollback target)."""
    row = conn.query_one("SELECT previous_deployment_id FROM active_deployment WHERE id = 1")
    if row is None or row["previous_deployment_id"] is None:
        return None
    return get(conn, row["previous_deployment_id"])


def active_summary(conn: Connection) -> Row | None:
    """Just the active deployment's id and version (cheap enough for health checks)."""
    return conn.query_one(
        "SELECT d.id, d.version FROM active_deployment p JOIN deployments d"
        " ON d.id = p.deployment_id WHERE p.id = 1")

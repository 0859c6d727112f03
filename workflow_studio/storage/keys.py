"""API keys: only SHA-256 hashes are stored; the secret is shown once at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Row

KEY_PREFIX = "wsk_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_secret() -> str:
    """A new secret: recognisable prefix (for secret scanners) plus 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _display_prefix(secret: str) -> str:
    """What lists show to tell keys apart. Generated keys: their ``wsk_`` head (random, as
    secret scanners expect). Operator-chosen secrets may be short, so never a piece of them:
    a piece of their hash instead."""
    if secret.startswith(KEY_PREFIX) and len(secret) >= 40:
        return secret[:8]
    return "sha:" + hash_key(secret)[:8]


def _public(row: Row) -> Row:
    row = dict(row)
    row.pop("key_hash", None)
    row["scopes"] = row["scopes"].split()
    return row


def create(conn: Connection, name: str, scopes: list[str] | tuple[str, ...], *,
           rate_limit_per_minute: int | None = None, source: str = "api",
           secret: str | None = None) -> tuple[Row, str]:
    """Store a new key; return (its public record, the secret to show once)."""
    secret = secret or generate_secret()
    key_id = new_id("key")
    conn.execute(
        "INSERT INTO api_keys (id, name, key_hash, prefix, scopes, rate_limit_per_minute,"
        " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (key_id, name, hash_key(secret), _display_prefix(secret), " ".join(scopes),
         rate_limit_per_minute, source, now_ms()),
    )
    record = get(conn, key_id)
    assert record is not None
    return record, secret


def sync_seeds(conn: Connection, seeds: list[tuple[str, str, tuple[str, ...], int | None]]
               ) -> list[str]:
    """Make the configured seed keys usable and revoke seeds no longer configured.

    ``seeds`` are (secret, name, scopes, rate limit). Rotating ``WORKFLOW_COMPUTE_API_KEY``
    or a ``seed_api_keys`` entry therefore retires the old key on the next start; a seed the
    operator revoked stays revoked. Returns the ids revoked by this call.
    """
    with conn.transaction():
        conn.lock("api-keys")  # processes booting together would both insert the seed
        current = set()
        for secret, name, scopes, limit in seeds:
            digest = hash_key(secret)
            current.add(digest)
            existing = conn.query_one("SELECT id FROM api_keys WHERE key_hash = ?", (digest,))
            if existing:
                conn.execute(
                    "UPDATE api_keys SET name = ?, scopes = ?, rate_limit_per_minute = ?"
                    " WHERE id = ?", (name, " ".join(scopes), limit, existing["id"]))
            else:
                create(conn, name, scopes, rate_limit_per_minute=limit, source="seed",
                       secret=secret)
        stale = [r["id"] for r in conn.query(
            "SELECT id, key_hash FROM api_keys WHERE source = 'seed' AND revoked_at IS NULL")
            if r["key_hash"] not in current]
        for key_id in stale:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now_ms(), key_id))
    return stale


def authenticate(conn: Connection, secret: str,
                 failures: tuple[Sequence[str], int] | None = None) -> Row | None:
    """The live key whose secret this is, or None. Hashes are compared in constant time.

    ``failures`` (buckets, window start): the row also carries ``auth_failures``, the most
    failed authentications of those buckets in that window (``storage.ratelimit``), read in
    the same statement, so the throttle costs an authenticated request no round trip."""
    digest = hash_key(secret)
    columns = "id, name, key_hash, scopes, rate_limit_per_minute, last_used_at, revoked_at"
    params: list[object] = [digest]
    if failures is not None:
        buckets, window_start = failures
        marks = ", ".join("?" * len(buckets))
        columns += (", (SELECT MAX(count) FROM auth_failure_windows WHERE window_start = ?"
                    f" AND bucket IN ({marks})) AS auth_failures")
        params = [window_start, *buckets, digest]
    row = conn.query_one(f"SELECT {columns} FROM api_keys WHERE key_hash = ?", params)
    if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["revoked_at"]:
        return None
    if failures is not None:
        row["auth_failures"] = int(row["auth_failures"] or 0)
    return row


def touch(conn: Connection, key_id: str, at_ms: int) -> None:
    conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at_ms, key_id))


def get(conn: Connection, key_id: str) -> Row | None:
    row = conn.query_one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
    return _public(row) if row else None


def list_keys(conn: Connection, include_revoked: bool = True) -> list[Row]:
    sql = "SELECT * FROM api_keys"
    if not include_revoked:
        sql += " WHERE revoked_at IS NULL"
    return [_public(r) for r in conn.query(sql + " ORDER BY created_at, id")]


def revoke(conn: Connection, key_id: str) -> Row | None:
    """Revoke a key (idempotent); None when no such key."""
    conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                 (now_ms(), key_id))
    return get(conn, key_id)


def count(conn: Connection) -> int:
    row = conn.query_one("SELECT COUNT(*) AS n FROM api_keys")
    return int(row["n"]) if row else 0

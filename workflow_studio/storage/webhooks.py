"""Webhook deliveries (de-duplication, purged after the audit retention) and the worker's
generated secret.

A delivery row is inserted in the same transaction as the handler's writes, so a delivery
whose handler failed leaves no row and the provider's retry is handled; a replayed one hits
the primary key and is reported as a duplicate.
"""

from __future__ import annotations

import secrets

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage.base import Connection, IntegrityError

SERVER_SECRET = "server"


def record_delivery(conn: Connection, provider: str, delivery_id: str) -> bool:
    """True for a first delivery, False for a replay. Call inside a transaction."""
    conn.lock(f"webhook:{provider}")
    if conn.query_one("SELECT 1 AS seen FROM webhook_deliveries WHERE provider = ? AND"
                      " delivery_id = ?", (provider, delivery_id)) is not None:
        return False
    try:
        conn.execute("INSERT INTO webhook_deliveries (provider, delivery_id, received_at)"
                     " VALUES (?, ?, ?)", (provider, delivery_id, now_ms()))
    except IntegrityError:
        return False
    return True


def server_secret(conn: Connection) -> str:
    """The worker's generated secret, created once and shared through the database."""
    row = conn.query_one("SELECT secret FROM worker_secrets WHERE name = ?", (SERVER_SECRET,))
    if row is not None:
        return str(row["secret"])
    with conn.transaction():
        conn.lock("worker-secret")
        conn.execute("INSERT INTO worker_secrets (name, secret, created_at) VALUES (?, ?, ?)"
                     " ON CONFLICT DO NOTHING",
                     (SERVER_SECRET, secrets.token_urlsafe(48), now_ms()))
        row = conn.query_one("SELECT secret FROM worker_secrets WHERE name = ?",
                             (SERVER_SECRET,))
    assert row is not None
    return str(row["secret"])


def purge_deliveries_before(conn: Connection, before: int, limit: int) -> int:
    """Delete up to ``limit`` delivery records received before ``before`` (ms).

    A purged delivery is no longer recognised as a replay. Providers stop retrying long
    before any sensible retention, and Stripe and Standard Webhooks signatures carry a
    timestamp the worker refuses after 5 minutes; GitHub and generic HMAC signatures do
    not, so for them the retention is also how old a captured delivery may be and still
    be refused."""
    with conn.transaction():
        return conn.execute(
            "DELETE FROM webhook_deliveries WHERE (provider, delivery_id) IN (SELECT"
            " provider, delivery_id FROM webhook_deliveries WHERE received_at < ?"
            " ORDER BY received_at LIMIT ?)", (before, limit))

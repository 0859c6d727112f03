"""The durable queue: messages that wake a run (``kind='run'``) or run one dispatched step
(``kind='step'``).

A message is claimed atomically (inside ``BEGIN IMMEDIATE`` on SQLite; with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so claimers on many nodes never wait on each other) by writing a
fresh claim token, the owner (node, pid) and a lease expiry; the heartbeat extends leases;
every engine write checks ``holds()`` first, so a process whose lease was lost (or whose run
was cancelled) cannot write. The owner's node (column ``claimed_by_host``) is the host name,
the machine (kernel boot and pid namespace) and a token drawn by each gunicorn master or
local world (``engine.owners``): two containers that share a host name and reuse each
other's pids never release each other's claims, and a process may release the claims of a
dead process of its own machine (``owners``, ``release_owner``).

There is at most one run message per run: a wake-up that arrives while the run is being
executed sets ``rewake`` so finishing the claim makes the message visible again instead of
deleting it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.ids import new_id
from workflow_studio.storage.base import Connection, Row

if TYPE_CHECKING:
    from workflow_studio.storage.database import Database

_CANDIDATES = 16


def enqueue_run(conn: Connection, run_id: str, deployment_id: str,
                concurrency_limit: int | None = None, visible_at: int | None = None) -> None:
    """Make sure the run will be executed at ``visible_at`` (now by default) or sooner.

    On PostgreSQL the run's message is read ``FOR UPDATE``: a wake-up racing with the claim
    that finishes (deletes) the message waits for it, then sees the row gone and inserts a
    fresh one, instead of setting ``rewake`` on a row that is about to disappear.
    """
    at = now_ms()
    visible_at = at if visible_at is None else visible_at
    lock = " FOR UPDATE" if conn.dialect == "postgres" else ""
    for _ in range(3):
        existing = conn.query_one(
            "SELECT id, claim_token, visible_at FROM queue_messages WHERE run_id = ?"
            " AND kind = 'run'" + lock, (run_id,))
        if existing is None:
            if conn.execute(
                    "INSERT INTO queue_messages (id, kind, run_id, deployment_id,"
                    " concurrency_limit, visible_at, created_at)"
                    " VALUES (?, 'run', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (new_id("msg"), run_id, deployment_id, concurrency_limit, visible_at, at)):
                _notify(conn)
                return
            continue  # another transaction inserted it meanwhile: update that one
        if existing["claim_token"] is not None:
            if visible_at <= at:
                conn.execute("UPDATE queue_messages SET rewake = 1 WHERE id = ?",
                             (existing["id"],))
            else:  # kept until the claim ends; the earliest pending wake wins
                conn.execute(
                    "UPDATE queue_messages SET rewake_at = ? WHERE id = ?"
                    " AND (rewake_at IS NULL OR rewake_at > ?)",
                    (visible_at, existing["id"], visible_at))
        elif visible_at < existing["visible_at"]:
            conn.execute("UPDATE queue_messages SET visible_at = ? WHERE id = ?",
                         (visible_at, existing["id"]))
            _notify(conn)
        return


def enqueue_claimed(conn: Connection, run_id: str, deployment_id: str, host: str, pid: int,
                    lease_ms: int) -> Row:
    """Insert a new run's message already claimed by (``host``, ``pid``): the process that
    triggered the run executes it at once, so nobody else is told about it (no NOTIFY).
    Returns the message as ``claim`` would."""
    at = now_ms()
    message: Row = {
        "id": new_id("msg"), "kind": "run", "run_id": run_id, "step_seq": None,
        "deployment_id": deployment_id, "concurrency_limit": None, "visible_at": at,
        "created_at": at, "claim_token": secrets.token_hex(12), "claimed_by_host": host,
        "claimed_by_pid": pid, "lease_expires_at": at + lease_ms, "claims": 1, "rewake": 0,
        "rewake_at": None}
    conn.execute(
        "INSERT INTO queue_messages (id, kind, run_id, deployment_id, visible_at, created_at,"
        " claim_token, claimed_by_host, claimed_by_pid, lease_expires_at, claims)"
        " VALUES (?, 'run', ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        (message["id"], run_id, deployment_id, at, at, message["claim_token"], host, pid,
         message["lease_expires_at"]))
    return message


def _notify(conn: Connection) -> None:
    """Tell every node's executors (LISTEN ``channel``) that work may be due, at commit."""
    if conn.dialect == "postgres":
        conn.execute("SELECT pg_notify(?, '')", (notify_channel(conn),))


def notify_channel(conn: Connection | Database) -> str:
    """The NOTIFY channel of this schema (several environments may share one database);
    ``conn`` is a connection or a ``Database`` (a SQLite connection has no schema)."""
    return f"ws_wake_{getattr(conn, 'schema', 'workflow_studio')}"[:63]


def enqueue_step(conn: Connection, run_id: str, step_seq: int, deployment_id: str,
                 concurrency_limit: int | None = None) -> None:
    at = now_ms()
    conn.execute(
        "INSERT INTO queue_messages (id, kind, run_id, step_seq, deployment_id,"
        " concurrency_limit, visible_at, created_at) VALUES (?, 'step', ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (new_id("msg"), run_id, step_seq, deployment_id, concurrency_limit, at, at))
    _notify(conn)


def _of_workflows(workflows: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """SQL (and its parameters) keeping only messages of runs of ``workflows`` (None: all)."""
    if workflows is None:
        return "", ()
    marks = ", ".join("?" for _ in workflows)
    return (" AND EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = queue_messages.run_id"
            f" AND r.workflow_name IN ({marks}))", tuple(workflows))


def claim(conn: Connection, host: str, pid: int, lease_ms: int,
          skip_deployments: Iterable[str] = (),
          workflows: Collection[str] | None = None) -> Row | None:
    """Claim one due message (or one whose lease expired); None when nothing is due.

    ``workflows``: only messages of runs of these workflows are candidates (a local world
    claims only what its process has registered; the rest is left to a process that has,
    and is not even looked at, so it never counts as a claim). None: any.

    Must run inside a write transaction so no two claimers see the same candidate: SQLite's
    write lock serialises claimers; on PostgreSQL candidates are locked ``FOR UPDATE SKIP
    LOCKED`` (claimers skip each other's rows) and only a deployment's concurrency count is
    serialised, by an advisory lock per deployment.
    """
    if workflows is not None and not workflows:
        return None
    at = now_ms()
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgres" else ""
    only, names = _of_workflows(workflows)
    candidates = conn.query(
        "SELECT * FROM queue_messages WHERE claim_token IS NOT NULL AND lease_expires_at < ?"
        + only + " LIMIT ?" + skip_locked, (at, *names, _CANDIDATES))
    candidates += conn.query(
        "SELECT * FROM queue_messages WHERE claim_token IS NULL AND visible_at <= ?"
        + only + " ORDER BY visible_at LIMIT ?" + skip_locked, (at, *names, _CANDIDATES))
    skip = set(skip_deployments)
    full: set[str] = set()
    for message in candidates:
        deployment = message["deployment_id"]
        if deployment in skip or deployment in full:
            continue
        limit = message["concurrency_limit"]
        if limit:
            conn.lock(f"queue-concurrency:{deployment}")
            row = conn.query_one(
                "SELECT COUNT(*) AS n FROM queue_messages WHERE deployment_id = ? AND"
                " claim_token IS NOT NULL AND lease_expires_at >= ?", (deployment, at))
            if row and row["n"] >= limit:
                full.add(deployment)
                continue
        token = secrets.token_hex(12)
        conn.execute(
            "UPDATE queue_messages SET claim_token = ?, claimed_by_host = ?, claimed_by_pid = ?,"
            " lease_expires_at = ?, rewake = 0, claims = claims + 1 WHERE id = ?",
            (token, host, pid, at + lease_ms, message["id"]))
        message.update(claim_token=token, claimed_by_host=host, claimed_by_pid=pid,
                       lease_expires_at=at + lease_ms, claims=message["claims"] + 1)
        return message
    return None


def holds(conn: Connection, message_id: str, token: str) -> bool:
    """Whether the claim is still ours (the fence every engine write checks first)."""
    lock = " FOR UPDATE" if conn.dialect == "postgres" else ""
    return conn.query_one("SELECT 1 AS ok FROM queue_messages WHERE id = ? AND claim_token = ?"
                          + lock, (message_id, token)) is not None


def fence(conn: Connection, message_id: str, token: str, run_id: str) -> str | None:
    """In one query: None if the claim is no longer ours, else the run's status."""
    lock = " FOR UPDATE OF q" if conn.dialect == "postgres" else ""
    row = conn.query_one(
        "SELECT r.status FROM queue_messages q JOIN workflow_runs r ON r.id = q.run_id"
        " WHERE q.id = ? AND q.claim_token = ? AND r.id = ?" + lock,
        (message_id, token, run_id))
    return row["status"] if row else None


def lock_for_run(conn: Connection, run_id: str) -> None:
    """Lock the run's queue messages first (PostgreSQL), as a finishing run does.

    Every transaction that touches a run's messages, hooks and run row takes them in that
    order; the opposite order deadlocks against a run finishing at the same moment.
    """
    if conn.dialect == "postgres":
        conn.query("SELECT id FROM queue_messages WHERE run_id = ? FOR UPDATE", (run_id,))


def claim_status(conn: Connection, message_id: str, token: str, run_id: str) -> str | None:
    """``fence`` without a lock or transaction: a cheap look before starting new work."""
    row = conn.query_one(
        "SELECT r.status FROM queue_messages q JOIN workflow_runs r ON r.id = q.run_id"
        " WHERE q.id = ? AND q.claim_token = ? AND r.id = ?", (message_id, token, run_id))
    return row["status"] if row else None


def finish(conn: Connection, message_id: str, token: str,
           next_visible_at: int | None = None) -> bool:
    """End a claim: delete the message, or (woken meanwhile / a timer pending) requeue it."""
    row = conn.query_one("SELECT rewake, rewake_at FROM queue_messages"
                         " WHERE id = ? AND claim_token = ?", (message_id, token))
    if row is None:
        return False
    if row["rewake"]:
        next_visible_at = now_ms()
    if row["rewake_at"] is not None:
        next_visible_at = min(row["rewake_at"], next_visible_at or row["rewake_at"])
    if next_visible_at is None:
        conn.execute("DELETE FROM queue_messages WHERE id = ?", (message_id,))
    else:
        # A healthy hand-back: the crash-loop counter only counts claims that never ended.
        conn.execute(
            "UPDATE queue_messages SET claim_token = NULL, claimed_by_host = NULL,"
            " claimed_by_pid = NULL, lease_expires_at = NULL, rewake = 0, rewake_at = NULL,"
            " claims = 0, visible_at = ? WHERE id = ?", (next_visible_at, message_id))
        if next_visible_at <= now_ms():
            _notify(conn)
    return True


def release(conn: Connection, message_id: str, token: str,
            visible_at: int | None = None) -> None:
    """Give a claim back without finishing it: visible again at once (graceful stop, exit)
    or at ``visible_at`` (a backoff). Not a crash: the claim counter restarts."""
    at = now_ms()
    conn.execute(
        "UPDATE queue_messages SET claim_token = NULL, claimed_by_host = NULL,"
        " claimed_by_pid = NULL, lease_expires_at = NULL, claims = 0, visible_at = ?"
        " WHERE id = ? AND claim_token = ?",
        (at if visible_at is None else visible_at, message_id, token))
    if visible_at is None or visible_at <= at:
        _notify(conn)


def owners(conn: Connection) -> list[tuple[str, int]]:
    """The (node, pid) of every process that holds a claim now."""
    return [(row["claimed_by_host"], row["claimed_by_pid"]) for row in conn.query(
        "SELECT DISTINCT claimed_by_host, claimed_by_pid FROM queue_messages"
        " WHERE claim_token IS NOT NULL AND claimed_by_host IS NOT NULL")]


def release_owner(conn: Connection, host: str, pid: int) -> int:
    """Release every claim of a dead process (gunicorn's ``child_exit``, or a process that
    finds one of its machine's processes dead: ``engine.owners``). The claim counter keeps
    counting: a process that died holding the message may be its crash loop."""
    released = conn.execute(
        "UPDATE queue_messages SET claim_token = NULL, claimed_by_host = NULL,"
        " claimed_by_pid = NULL, lease_expires_at = NULL, visible_at = ?"
        " WHERE claim_token IS NOT NULL AND claimed_by_pid = ? AND claimed_by_host = ?",
        (now_ms(), pid, host))
    if released:
        _notify(conn)
    return released


def extend(conn: Connection, tokens: list[str], lease_expires_at: int) -> None:
    for start in range(0, len(tokens), 200):
        chunk = tokens[start:start + 200]
        marks = ", ".join("?" for _ in chunk)
        conn.execute(f"UPDATE queue_messages SET lease_expires_at = ? WHERE claim_token IN"
                     f" ({marks})", (lease_expires_at, *chunk))


def next_due(conn: Connection, workflows: Collection[str] | None = None) -> int | None:
    """The earliest time a message becomes claimable (visible or lease expiring); with
    ``workflows``, only a message of a run of one of them (as ``claim``)."""
    if workflows is not None:
        if not workflows:
            return None
        only, names = _of_workflows(workflows)
        row = conn.query_one(
            "SELECT (SELECT visible_at FROM queue_messages WHERE claim_token IS NULL" + only
            + " ORDER BY visible_at LIMIT 1) AS v, (SELECT lease_expires_at FROM"
            " queue_messages WHERE claim_token IS NOT NULL" + only
            + " ORDER BY lease_expires_at LIMIT 1) AS l", (*names, *names))
        found = [t for t in (row or {}).values() if t is not None]
        return min(found) if found else None
    row = conn.query_one(
        "SELECT MIN(t) AS t FROM (SELECT MIN(visible_at) AS t FROM queue_messages WHERE"
        " claim_token IS NULL UNION ALL SELECT MIN(lease_expires_at) FROM queue_messages"
        " WHERE claim_token IS NOT NULL) AS due")
    return row["t"] if row and row["t"] is not None else None


def holders(conn: Connection, run_id: str) -> list[Row]:
    """Who holds the run's messages, one row per owner (``claimed_by_host`` None: not
    claimed), with the earliest ``visible_at`` and ``lease_expires_at`` among them."""
    return conn.query(
        "SELECT claimed_by_host, claimed_by_pid, MIN(visible_at) AS visible_at,"
        " MIN(lease_expires_at) AS lease_expires_at FROM queue_messages"
        " WHERE run_id = ? AND kind = 'run' GROUP BY claimed_by_host, claimed_by_pid"
        " UNION ALL SELECT claimed_by_host, claimed_by_pid, MIN(visible_at),"
        " MIN(lease_expires_at) FROM queue_messages WHERE run_id = ? AND kind = 'step'"
        " GROUP BY claimed_by_host, claimed_by_pid", (run_id, run_id))


def delete(conn: Connection, message_id: str) -> None:
    conn.execute("DELETE FROM queue_messages WHERE id = ?", (message_id,))


def delete_unclaimed_for_run(conn: Connection, run_id: str) -> None:
    conn.execute("DELETE FROM queue_messages WHERE run_id = ? AND claim_token IS NULL",
                 (run_id,))


def pending_count(conn: Connection) -> int:
    row = conn.query_one("SELECT COUNT(*) AS n FROM queue_messages")
    return int(row["n"]) if row else 0

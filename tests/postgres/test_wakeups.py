"""Cross-node wake-ups: an enqueue committed by any node notifies every listener; a listener
whose connection is killed reconnects by itself (and says so, so missed work is looked for)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.engine.e2e_project import wait_for
from workflow_studio.engine.notify import Listener
from workflow_studio.storage.world import queue, runs

pytestmark = pytest.mark.postgres_only


def test_enqueue_notifies_at_commit_and_the_listener_reconnects(
        make_database: Callable[..., Any]) -> None:
    db = make_database()
    conn = db.connection()
    seen: list[int] = []
    arrived = threading.Condition()

    def on_notify(count: int) -> None:
        with arrived:
            seen.append(count)
            arrived.notify_all()

    listener = Listener(db.target, queue.notify_channel(db), on_notify).start()
    try:
        wait_for(lambda: seen == [0])  # connected (and asked for a look at the queue)
        with conn.transaction():
            run = runs.create(conn, "flow", "dpl_x", "api", "{}")
            queue.enqueue_run(conn, run["id"], "dpl_x")
            assert seen == [0]  # nothing before the commit
        wait_for(lambda: seen == [0, 1])

        backend = conn.query_one(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE ?",
            (f"%{queue.notify_channel(db)}%",))
        assert backend is not None
        conn.query_one("SELECT pg_terminate_backend(?) AS ok", (backend["pid"],))
        wait_for(lambda: seen[-1] == 0 and len(seen) == 3, timeout=10)  # reconnected
        with conn.transaction():
            queue.enqueue_step(conn, run["id"], 1, "dpl_x")
        wait_for(lambda: seen[-1] == 1 and len(seen) == 4)
    finally:
        listener.stop()

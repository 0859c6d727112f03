"""Transactions that touch a run's queue message, hooks and run row take them in one order
(message first, as a finishing run does), so racing ones wait instead of deadlocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from workflow_studio.compute.clock import now_ms
from workflow_studio.engine import runs as starts
from workflow_studio.engine import service
from workflow_studio.storage.world import hooks, queue, runs

pytestmark = pytest.mark.postgres_only


def wait_until_blocked_on_a_lock(conn: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.query_one("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE"
                             " datname = current_database() AND wait_event_type = 'Lock'")
        if row and row["n"]:
            return
        time.sleep(0.01)
    raise AssertionError("the cancel never waited for the resume's lock")


def test_cancel_racing_a_hook_resume_waits_instead_of_deadlocking(
        make_database: Callable[..., Any]) -> None:
    db = make_database()
    setup = db.connection()
    with setup.transaction():
        run = starts.start_run(setup, starts.StartRequest(
            "wf", deployment=starts.Target("dpl_x", ("wf",)))).run
        runs.mark_started(setup, run["id"])
        hooks.create(setup, run["id"], 1, "tok-1")
        # A hook with a timeout: the run's message exists, parked until later.
        setup.execute("UPDATE queue_messages SET visible_at = ? WHERE run_id = ?",
                      (now_ms() + 60_000, run["id"]))
    message_locked, release = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def resume() -> None:  # the statements of service.resume_hook, held open in the middle
        conn = db.connection()
        try:
            with conn.transaction():
                hook = hooks.get_live_by_token(conn, "tok-1")
                queue.enqueue_run(conn, run["id"], run["deployment_id"])
                message_locked.set()
                release.wait(10)
                hooks.receive(conn, hook, "1")
            outcome["resume"] = "ok"
        except Exception as exc:
            outcome["resume"] = repr(exc)

    def cancel() -> None:
        try:
            service.cancel(db.connection(), run["id"])
            outcome["cancel"] = "ok"
        except Exception as exc:
            outcome["cancel"] = repr(exc)

    resumer = threading.Thread(target=resume)
    resumer.start()
    assert message_locked.wait(10)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    wait_until_blocked_on_a_lock(setup)
    release.set()
    resumer.join(15)
    canceller.join(15)
    assert outcome == {"resume": "ok", "cancel": "ok"}
    assert runs.get(setup, run["id"])["status"] == "cancelled"

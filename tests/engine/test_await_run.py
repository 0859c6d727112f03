"""``RunWatchers.await_run``: the long-poll behind ``?wait``, woken by ``changed``."""

from __future__ import annotations

import threading
from typing import Any

from workflow_studio.engine.runtime import RunWatchers


def test_a_change_in_this_process_wakes_the_waiter() -> None:
    watchers = RunWatchers()
    state = {"status": "running"}
    reads: list[str] = []
    registered = threading.Event()

    def read() -> dict[str, Any]:
        reads.append(state["status"])
        registered.set()  # the first read happens after the watch is registered
        return dict(state)

    result: list[dict[str, Any]] = []
    waiter = threading.Thread(target=lambda: result.append(
        watchers.await_run("wrun_x", read, {"status": "pending"}, 30.0)))
    waiter.start()
    assert registered.wait(10)
    state["status"] = "completed"
    watchers.changed("wrun_x")
    waiter.join(10)
    assert not waiter.is_alive()
    assert result == [{"status": "completed"}]
    assert "wrun_x" not in watchers._events  # the watch is removed when the wait ends


def test_no_wait_and_finished_runs_return_at_once() -> None:
    watchers = RunWatchers()
    def read() -> dict[str, Any]:
        raise AssertionError("must not read")

    assert watchers.await_run("wrun_y", read, {"status": "pending"}, 0)["status"] == "pending"
    assert watchers.await_run("wrun_y", read, {"status": "failed"}, 30)["status"] == "failed"
    watchers.changed("wrun_nobody")  # no watcher: nothing to do


def test_the_wait_ends_at_its_deadline() -> None:
    watchers = RunWatchers()
    row = watchers.await_run("wrun_z", lambda: {"status": "running"}, {"status": "pending"},
                            0.05)
    assert row["status"] == "running"

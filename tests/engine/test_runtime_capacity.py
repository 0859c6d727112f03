"""Capacity rules of one process's ``Runtime``, on Flask's test client (no gunicorn): how
many request threads may idle in a long-poll or execute the run they triggered, sized by
each app's own settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from workflow_studio.engine import runs as starts
from workflow_studio.engine.runtime import Runtime
from workflow_studio.worker.app import create_app

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _pending_run(app: Any) -> str:
    """A run nobody executes (this app starts no executor): it stays pending."""
    state = app.extensions["workflow_studio"]
    request = starts.StartRequest("wf", deployment=starts.Target("dpl_none", ("wf",)))
    return str(state.runtime.start(state.db.connection(), request).run["id"])


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_each_app_sizes_its_own_permit_pools(make_settings: Callable[..., Any]) -> None:
    small = create_app(make_settings(threads=2)).extensions["workflow_studio"].runtime
    large = create_app(make_settings(threads=8)).extensions["workflow_studio"].runtime
    assert small is not large
    assert small.wait_permits.capacity == 1
    assert large.wait_permits.capacity == 7
    assert large.direct_permits.capacity == 7


def test_long_polls_beyond_the_permits_answer_at_once(
        make_settings: Callable[..., Any]) -> None:
    app = create_app(make_settings(threads=3))  # 2 long-polls may be held at once
    runtime: Runtime = app.extensions["workflow_studio"].runtime
    run_id = _pending_run(app)
    answers: list[tuple[int, str]] = []

    def long_poll() -> None:
        response = app.test_client().get(f"/v1/runs/{run_id}?wait=30", headers=AUTH)
        answers.append((response.status_code, response.get_json()["status"]))

    held = [threading.Thread(target=long_poll) for _ in range(2)]
    for poll in held:
        poll.start()
    _until(lambda: runtime.wait_permits.in_use == 2)
    started = time.monotonic()
    response = app.test_client().get(f"/v1/runs/{run_id}?wait=30", headers=AUTH)
    assert time.monotonic() - started < 5  # not held: there was no permit left
    assert (response.status_code, response.get_json()["status"]) == (200, "pending")
    assert app.test_client().get("/v1/health").status_code == 200
    assert app.test_client().post(f"/v1/runs/{run_id}/cancel", headers=AUTH
                                  ).status_code == 200  # wakes the held polls at once
    for poll in held:
        poll.join(10)
    assert answers == [(200, "cancelled")] * 2
    assert runtime.wait_permits.in_use == 0


def test_a_permit_is_given_back_when_the_wait_ends(make_settings: Callable[..., Any]) -> None:
    app = create_app(make_settings(threads=2))  # a single long-poll permit
    runtime: Runtime = app.extensions["workflow_studio"].runtime
    run_id = _pending_run(app)
    for _ in range(3):  # each ends at its deadline and frees the one permit
        response = app.test_client().get(f"/v1/runs/{run_id}?wait=0.05", headers=AUTH)
        assert response.get_json()["status"] == "pending"
        assert runtime.wait_permits.in_use == 0


def test_no_executor_means_no_direct_execution(make_settings: Callable[..., Any]) -> None:
    runtime: Runtime = create_app(make_settings(threads=2)).extensions[
        "workflow_studio"].runtime
    assert runtime.executor is None
    assert runtime.reserve_direct(5.0) is None
    assert runtime.direct_permits.in_use == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_one_thread_still_gets_one_permit_of_each(make_settings: Callable[..., Any],
                                                   threads: int) -> None:
    runtime: Runtime = create_app(make_settings(threads=threads)).extensions[
        "workflow_studio"].runtime
    assert runtime.wait_permits.capacity == 1

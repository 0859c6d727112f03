"""A worker process that stays stuck is found and replaced within ``stuck_timeout`` (plus
the time to notice and to boot another): the writer lock's holder by a sibling's watchdog,
which logs its pid and what it was doing; a process holding nothing by gunicorn's worker
timeout, which is the same setting."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import wait_for
from tests.engine.test_e2e import deploy
from tests.faults.load import Load, trigger
from tests.faults.procfs import children, flock_holders, gone
from tests.faults.test_freeze_under_load import freeze_holder
from workflow_studio.client import ComputeClient
from workflow_studio.storage.lock_record import read_report
from workflow_studio.worker.server import READY_MARKER

pytestmark = pytest.mark.e2e
STUCK = 3.0
REPLACED_WITHIN = STUCK + 3.0  # noticed within a second or two, then killed and reaped


def replaced(server: Any, pid: int, ready: int) -> float:
    """Seconds until ``pid`` is gone and a new process has booted in its place."""
    started = time.monotonic()
    wait_for(lambda: gone(pid) and server.log().count(READY_MARKER) > ready
             and len(children(server.pid)) == 3, timeout=30, interval=0.05)
    return time.monotonic() - started


def test_a_stuck_process_is_replaced_within_the_stuck_timeout(tmp_path: Path,
                                                              start_worker: Any) -> None:
    server = start_worker(workers=3, lock_timeout=1.0, stuck_timeout=STUCK,
                          rate_limit_per_minute=10**9)
    deploy(ComputeClient(server.url, ADMIN_KEY), tmp_path / "project")
    database = str(tmp_path / "worker.db")
    lock = f"{database}-writer.lock"

    with Load(server.url, clients=3).running() as load:  # the lock changes hands all along
        wait_for(lambda: len(load.accepted) >= 10, timeout=30)
        holder, holding = freeze_holder(children(server.pid), lambda pid: pid in flock_holders(
            lock), lambda: flock_holders(lock))
        assert holding, "no process was caught holding the writer lock"
        took = replaced(server, holder, server.log().count(READY_MARKER))
    assert took < REPLACED_WITHIN, f"the frozen lock holder was replaced after {took:.1f}s"
    log = server.log()
    assert f"by worker process {holder}, doing " in log  # its pid and what it was doing
    assert "; replacing it" in log
    assert read_report(database)[0].stuck >= 1  # counted

    # A process holding nothing, frozen: gunicorn's timeout (the same setting) replaces it.
    for _ in range(100):
        idle = children(server.pid)[0]
        os.kill(idle, signal.SIGSTOP)
        if idle not in flock_holders(lock):
            break
        os.kill(idle, signal.SIGCONT)
    took = replaced(server, idle, server.log().count(READY_MARKER))
    assert took < REPLACED_WITHIN, f"the frozen idle process was replaced after {took:.1f}s"
    assert f"WORKER TIMEOUT (pid:{idle})" in server.log()
    answer = trigger(server.url, uuid.uuid4().hex)  # and the worker serves on
    assert answer.status == 200, answer

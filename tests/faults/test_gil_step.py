"""A step that holds the GIL for 3 s (a C call that never releases it) in one process stalls
no trigger served by the other processes past ``lock_timeout`` + 0.5 s.

Its process cannot run any other thread meanwhile, so whatever lock one of them held stays
held: first the worst case, a thread of that process holding the SQLite writer lock (the
step takes it itself, as a cooperating writer, to make the case certain), then the step
alone. README, "A stuck or frozen process", says why such steps belong in
``@step(isolation="process")``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine.e2e_project import wait_for
from tests.faults.load import trigger
from tests.faults.procfs import children
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient

pytestmark = pytest.mark.e2e
LOCK_TIMEOUT = 1.0
BOUND = LOCK_TIMEOUT + 0.5
HOLD = 3.0

FLOWS = '''
import ctypes
import fcntl
import os
from pathlib import Path

import workflow_studio as ws


@ws.step
def add(a, b):
    return a + b


@ws.workflow
def total(n):
    value = 0
    for i in range(n):
        value = add(value, i)
    return value


@ws.step
def hog(lock_path, marker, seconds):
    fd = os.open(lock_path or os.devnull, os.O_RDWR)
    if lock_path:
        fcntl.flock(fd, fcntl.LOCK_EX)
    Path(marker).write_text(str(os.getpid()))
    ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))  # the GIL stays held throughout
    os.close(fd)
    return seconds


@ws.workflow
def hogging(lock_path, marker, seconds):
    return hog(lock_path, marker, seconds)
'''


def test_a_step_holding_the_gil_stalls_no_trigger_of_the_others(tmp_path: Path,
                                                                 start_worker: Any) -> None:
    server = start_worker(workers=3, threads=8, lock_timeout=LOCK_TIMEOUT,
                          rate_limit_per_minute=10**9)
    remote = ComputeClient(server.url, ADMIN_KEY)
    config = write_project(tmp_path / "project", {"gil_app/__init__.py": "",
                                                  "gil_app/flows.py": FLOWS},
                           ["gil_app.flows"])
    built = build_project(str(config), tmp_path / "out")
    remote.activate_deployment(remote.create_deployment(built.manifest_path,
                                                        built.artifact_path)["id"])
    lock = f"{tmp_path / 'worker.db'}-writer.lock"
    for holding in (lock, ""):
        marker = tmp_path / f"hogging-{bool(holding)}"
        run = remote.trigger_run("hogging", [holding, str(marker), HOLD])["id"]
        wait_for(lambda marker=marker: marker.exists() and marker.read_text())
        hog = int(marker.read_text())
        assert hog in children(server.pid)
        started, answers = time.monotonic(), []
        while time.monotonic() - started < HOLD - BOUND:  # probes while the GIL is held
            answers.append(trigger(server.url, uuid.uuid4().hex))
        slow = [(a.seconds, a.status, a.code) for a in answers if a.seconds > BOUND]
        assert slow == [], f"probes slower than {BOUND}s with the GIL held by {hog}"
        assert {(a.status, a.code) for a in answers} <= {
            (200, ""), (202, ""), (503, "database_busy")}
        if holding:  # the worst case did happen: every write needed the held lock
            assert {a.code for a in answers} == {"database_busy"}
        done = remote.get_run(run, wait=10)
        assert (done["status"], done["output"]) == ("completed", HOLD)

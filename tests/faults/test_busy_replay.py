"""A write made from inside workflow code (dispatching a fan-out) that meets a held writer
lock does not fail the run: the claim goes back and the run completes once the lock is free.
It used to fail with ``workflow_error`` (the ``DatabaseBusy`` passed for the workflow's
own exception)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import workflow_studio as ws
from workflow_studio import sdk
from workflow_studio.sdk.local_world import LocalWorld
from workflow_studio.storage import Database
from workflow_studio.storage.base import Timeouts

LOCK_TIMEOUT = 0.3
HOLD = LOCK_TIMEOUT + 0.15  # gone soon after the first write gave up: the next one gets it
_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))  # a holder that stands still for a while, then moves on
"""
holders: list[subprocess.Popen[str]] = []


@ws.step
def busy_hold_the_lock(database_path: str, marker: str) -> int:
    if not Path(marker).exists():  # the first attempt only: the replay runs it again
        Path(marker).write_text("held")
        holder = subprocess.Popen([sys.executable, "-c", _HOLD, database_path, str(HOLD)],
                                  stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return 1


@ws.step
def busy_double(x: int) -> int:
    return 2 * x


@ws.workflow
def busy_fanout(database_path: str, marker: str) -> list[int]:
    busy_hold_the_lock(database_path, marker)
    return busy_double.map([1, 2, 3])  # its dispatch is a write inside the workflow function


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    database = Database(str(tmp_path / "local.db"), timeouts=Timeouts(lock=LOCK_TIMEOUT))
    local = LocalWorld(slots=2, database=database)
    previous = sdk.set_world(local)
    yield local
    sdk.set_world(previous)
    local.close()
    for holder in holders:
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
    holders.clear()


def test_a_busy_write_inside_workflow_code_does_not_fail_the_run(tmp_path: Path,
                                                                   world: LocalWorld) -> None:
    run = ws.start(busy_fanout, str(tmp_path / "local.db"), str(tmp_path / "marker"))
    assert run.result(30) == [2, 4, 6]
    assert len(holders) == 1  # the lock was held when the fan-out was dispatched
    assert [s["stepName"] for s in run.steps()].count("busy_hold_the_lock") == 1

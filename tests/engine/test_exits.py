"""A process that ends mid-run leaves no claim behind for long (issue 14, item 2).

A local-world process starts a run whose step takes long, and ends while the step runs: by
``sys.exit`` (its executor releases its claims at exit), by SIGTERM or by SIGKILL (no
clean-up at all: the next process of this machine sees the owner's pid is dead and releases
its claims). Another process that imports the workflow resumes the run in under a second,
where it used to wait for the whole lease (30 s): after an exit it is already executing (so
only the exiting process's release can wake it); after a kill it starts executing then (so
only its look for dead owners can find the run). It is started beforehand and only told
when to start its executor, so the time measured is the engine's, from the end of the first
process to the start of the step's second attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine.local_processes import finish, spawn, stop, wait_for_lines, write_flows
from workflow_studio.sdk.local_world import LocalWorld

VICTIM = """
import sys
import time

import workflow_studio as ws
import procflows

run = ws.start(procflows.long_run)
print(run.id, flush=True)
deadline = time.monotonic() + 20
while not (procflows.HERE / "slow-attempts").exists():  # its step is running
    assert time.monotonic() < deadline
    time.sleep(0.01)
print("running", flush=True)
sys.stdin.readline()  # the test says when to end (or kills this process meanwhile)
(procflows.HERE / "exited-at").write_text(repr(time.time()))
sys.exit(0)
"""

SUCCESSOR = """
import sys

import workflow_studio as ws
import procflows

run = ws.get_run(sys.argv[1])
assert run.status() == "running"  # reading starts no executor: nothing is claimed here
print("ready", flush=True)
sys.stdin.readline()  # the test says when to start executing
ws.start_executor()
print("executing", flush=True)
print(run.result(timeout=20))
"""


def tell(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


@pytest.mark.parametrize("ending", ["exit", "sigterm", "sigkill"])
def test_the_next_process_resumes_a_run_at_once(tmp_path: Path, ending: str) -> None:
    write_flows(tmp_path)
    victim, successor = spawn(tmp_path, VICTIM, ending), None
    try:
        assert victim.stdout is not None
        run_id = victim.stdout.readline().strip()
        successor = spawn(tmp_path, SUCCESSOR, run_id)
        assert successor.stdout is not None and successor.stdin is not None
        assert successor.stdout.readline().strip() == "ready"
        assert victim.stdout.readline().strip() == "running"
        if ending == "exit":  # the other process already executes: the exit must wake it
            tell(successor, "go")
            assert successor.stdout.readline().strip() == "executing"
            assert victim.stdin is not None
            tell(victim, "exit")
            assert victim.wait(20) == 0
            ended_at = float((tmp_path / "exited-at").read_text())
        else:  # the other process starts executing after: it finds the owner dead
            ended_at = time.time()
            os.kill(victim.pid, signal.SIGTERM if ending == "sigterm" else signal.SIGKILL)
            victim.wait(20)
            observer = LocalWorld(tmp_path / "local.db")  # its claim is a dead process's
            try:
                assert observer.get_run(run_id)["waitingOn"] == {"type": "executor",
                                                                  "workflow": "long_run"}
            finally:
                observer.close()
            tell(successor, "go")
        first, second = wait_for_lines(tmp_path / "slow-attempts", 2)
        assert first[0] == victim.pid and second[0] == successor.pid
        resumed_after = second[1] - ended_at
        print(f"{ending}: resumed {resumed_after * 1000:.0f} ms after the first process ended")
        assert resumed_after < 1.0, f"resumed {resumed_after:.2f}s after the first process ended"
        assert finish(successor).split()[-1] == "2"
    finally:
        stop(victim, successor)

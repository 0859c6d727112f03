"""A process that only observes a run never executes it, nor fails it (issue 14, item 1).

Found as an app developer would: one process starts a run and exits while the run sleeps;
another, which never imported the workflow, reads the run (or executes workflows of its
own) when the sleep ends. It used to claim the run and fail it with ``unknown_workflow``.
Now the run waits, reads as waiting for an executor, and the next process that imports the
workflow finishes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.local_processes import attempts, finish, spawn, write_flows

STARTER = """
import time

import workflow_studio as ws
import procflows

run = ws.start(procflows.napper)
deadline = time.monotonic() + 20
while (run.info()["waitingOn"] or {}).get("type") != "sleep":
    assert time.monotonic() < deadline, run.info()
    time.sleep(0.01)
print(run.id)
"""  # and exits while the run sleeps (300 ms)

READER = """
import json
import sys

import workflow_studio as ws

run = ws.get_run(sys.argv[1])
first = run.status()
final = run.wait(timeout=1.6)  # the sleep ends meanwhile
chunks = list(run.stream("log", timeout=0.2))
print(json.dumps({"first": first, "final": final, "chunks": chunks, "run": run.info()}))
"""

BUSY_ELSEWHERE = """
import json
import sys

import workflow_studio as ws
import otherflows

assert ws.start(otherflows.other).result(timeout=10) == 1  # this process executes
run = ws.get_run(sys.argv[1])
final = run.wait(timeout=1.6)  # the sleep ends meanwhile
print(json.dumps({"first": "running", "final": final, "chunks": [], "run": run.info()}))
"""

FINISHER = """
import sys

import workflow_studio as ws
import procflows

ws.start_executor()
print(ws.get_run(sys.argv[1]).result(timeout=20))
"""


@pytest.mark.parametrize("observer", [READER, BUSY_ELSEWHERE], ids=["reads", "executes"])
def test_a_process_that_has_not_imported_the_workflow_never_runs_it(tmp_path: Path,
                                                                    observer: str) -> None:
    write_flows(tmp_path)
    run_id = finish(spawn(tmp_path, STARTER)).strip()
    seen = json.loads(finish(spawn(tmp_path, observer, run_id)))
    assert (seen["first"], seen["final"], seen["chunks"]) == ("running", "running", [])
    assert seen["run"]["error"] is None
    assert seen["run"]["waitingOn"] == {"type": "executor", "workflow": "napper"}
    assert not attempts(tmp_path / "after-nap")
    assert finish(spawn(tmp_path, FINISHER, run_id)).strip() == "1"
    assert len(attempts(tmp_path / "after-nap")) == 1

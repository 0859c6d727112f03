"""What workflow code may not do (start runs, call workflows), and what a step timeout does
in each isolation: real timeouts (0.3 s against a 1 s body), real child processes, on the
local world. ``tests/engine/test_e2e_isolation.py`` proves the same on the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import workflow_studio as ws
from tests.engine import flows
from tests.engine.e2e_project import wait_for
from workflow_studio.sdk import RunFailedError

pytestmark = pytest.mark.both_backends


def marks(directory: Path) -> list[tuple[str, int, float]]:
    path = directory / "marks"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(what, int(pid), float(at)) for what, pid, at in (line.split() for line in lines)]


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def children(world, workflow: str) -> int:
    rows = world.db.connection().query(
        "SELECT id FROM workflow_runs WHERE workflow_name = ?", (workflow,))
    return len(rows)


def test_start_belongs_in_steps_not_in_workflow_code(world):
    for how in ("start", "start_with", "call"):
        run = ws.start(flows.starts_in_workflow_flow, how)
        with pytest.raises(RunFailedError) as info:
            run.result(10)
        assert info.value.code == "workflow_error", how
        assert info.value.error["type"] == "NotAllowedInWorkflowError", how
        expected = "called directly inside another workflow" if how == "call" else (
            "would start a new run on every replay")
        assert expected in info.value.error["message"], how
    assert children(world, "child_flow") == 0  # no replay started (or inlined) a child

    run = ws.start(flows.starts_from_step_flow)  # from a step: allowed, recorded once
    child = ws.get_run(run.result(10))
    assert child.result(10) == "from-step"
    assert children(world, "child_flow") == 1
    assert flows.child_flow("plain call") == "plain call"  # outside any workflow: a function


def test_a_timed_out_thread_attempt_never_overlaps_its_retry_and_records_nothing(
        world, tmp_path):
    run = ws.start(flows.overrun_flow, str(tmp_path), "thread")
    assert run.result(20) == "StepTimeoutError after 2"
    step = run.steps()[0]
    assert (step["status"], step["attempt"]) == ("failed", 2)
    # Python cannot stop the threads: both bodies run to their end, after the run ended.
    wait_for(lambda: [m[0] for m in marks(tmp_path)].count("fenced") == 2)
    timeline = [(what, at) for what, _, at in marks(tmp_path) if what in ("start", "end")]
    assert [what for what, _ in timeline] == ["start", "end", "start", "end"]
    assert timeline[1][1] <= timeline[2][1]  # the retry started after the first body ended
    assert world.read_stream(run.id, "late") == []  # their writes were fenced
    assert "late result" not in str(run.info())


def test_a_process_attempt_is_killed_at_its_timeout(world, tmp_path):
    run = ws.start(flows.overrun_flow, str(tmp_path), "process")
    assert run.result(30) == "StepTimeoutError after 2"
    started = marks(tmp_path)
    assert [what for what, _, _ in started] == ["start", "start"]  # no body reached its end
    pids = [pid for _, pid, _ in started]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert all(gone(pid) for pid in pids)  # killed before the timeout was recorded
    assert started[1][2] - started[0][2] >= 0.3  # one after the other
    assert world.read_stream(run.id, "late") == []
    error = run.steps()[0]["error"]
    assert error["type"] == "StepTimeoutError" and "killed" in error["message"]


def test_a_process_step_returns_streams_retries_and_exits_like_a_thread_step(world, tmp_path):
    run = ws.start(flows.isolated_flow, str(tmp_path))
    assert run.result(30) == {"value": (2, Decimal("2.5")),
                              "exits": [["SystemExit", 1], ["KeyboardInterrupt", 1]]}
    stream = world.read_stream(run.id, "progress")
    assert stream[-1]["done"]  # closed from the child process
    chunks = [c["data"] for c in stream if not c["done"]]
    assert [c["attempt"] for c in chunks] == [2]
    assert chunks[0]["pid"] != os.getpid()
    assert [s["attempt"] for s in run.steps()] == [2, 1, 1]  # exits are never retried
    assert ws.start(flows.sum_flow, 3).result(10)["total"] == 3  # every slot lives on


APP = '''
import os
import sys
import time
from pathlib import Path

import workflow_studio as ws


@ws.step(isolation="process", timeout=60)
def hang(directory):
    Path(directory, "child.pid").write_text(str(os.getpid()))
    time.sleep(60)


@ws.workflow
def hanging(directory):
    return hang(directory)


if __name__ == "__main__":
    ws.start(hanging, sys.argv[1]).result(120)
'''


def test_a_process_attempt_dies_with_its_executor(tmp_path):
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    env = {**os.environ, "WORKFLOW_LOCAL_DB": str(tmp_path / "local.db")}
    parent = subprocess.Popen([sys.executable, "app.py", str(tmp_path)], cwd=tmp_path,
                              env=env)
    try:
        pid_file = tmp_path / "child.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=30)
        child = int(pid_file.read_text())
        assert child != parent.pid and not gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: gone(child), timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)

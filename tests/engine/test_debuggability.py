"""A failing run says where and why (issue 14, "Debuggability").

- A failed step records its traceback (``error.stack``: the end of it, at most 64 KB,
  through the redactor): inline, fanned out, timed out (where the body was at the
  deadline) and in a child process; ``GET /v1/runs/:id/steps`` and ``runs show --steps``
  show it. Event payloads leave it out.
- The engine logs one line per retry, failure, timeout, recovery and non-determinism, with
  the run id, step name, attempt and delay (logger ``workflow_studio.engine``); nothing for
  a step that succeeds.
- Every step event names its step.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine import flows, replay_flows
from tests.engine.e2e_project import wait_for
from tests.engine.local_processes import attempts, spawn, stop, write_flows
from tests.engine.test_e2e import finished
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient

SECRET = "s3cret-token-value"
HUGE = "x" * 100_000  # a message whose traceback is longer than the 64 KB kept


def engine_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "workflow_studio.engine" and r.levelno >= logging.INFO]


@pytest.mark.both_backends
def test_failures_are_recorded_with_their_traceback_and_logged(
        world: Any, caplog: pytest.LogCaptureFixture) -> None:
    world.runtime.redactor.add(SECRET)
    caplog.set_level(logging.INFO, logger="workflow_studio.engine")
    flows.gate("rc-stuck")  # released when the test ends (the fixture sets every gate)
    run = ws.start(replay_flows.rc_debug_flow, f"{HUGE} {SECRET}")
    assert run.result(30) == {"flaky": "rc-inline", "fanned": ["rc-fanned", [1, {}]],
                              "broken": "ValueError", "stuck": "StepTimeoutError",
                              "process": "ValueError"}
    steps = {s["stepName"]: s for s in run.steps() if s["status"] == "failed"}

    broken = steps["rc_broken"]["error"]
    assert broken["stack"].startswith("[... ") and len(broken["stack"]) <= 64 * 1024
    assert broken["stack"].endswith(f"{'x' * 100} [redacted]\n")
    assert 'raise ValueError(message)' not in broken["stack"]  # cut: only the end is kept
    short = ws.start(replay_flows.rc_debug_flow, f"short {SECRET}")
    short.result(30)
    shorts = {s["stepName"]: s["error"] for s in short.steps() if s["status"] == "failed"}
    stack = shorts["rc_broken"]["stack"]
    assert stack.startswith("Traceback (most recent call last):")
    assert "in rc_broken\n    raise ValueError(message)" in stack
    assert stack.endswith("ValueError: short [redacted]\n") and SECRET not in stack
    child = shorts["rc_broken_in_process"]["stack"]  # formatted in the child process
    assert "in rc_broken_in_process\n    raise ValueError(message)" in child
    stuck = shorts["rc_stuck"]
    assert stuck["type"] == "StepTimeoutError"
    assert stuck["stack"].startswith("The timed-out attempt was here at its deadline")
    assert 'gate("rc-stuck").wait(30)' in stuck["stack"]

    events = run.events()
    names = {s["id"]: s["stepName"] for s in run.steps()}
    step_events = [e for e in events if e["eventType"].startswith("step_")]
    assert {e["eventType"] for e in step_events} == {
        "step_created", "step_started", "step_completed", "step_retrying", "step_failed"}
    assert all(e["payload"]["stepName"] == names[e["correlationId"]] for e in step_events)
    assert not any("stack" in (e["payload"].get("error") or {}) for e in step_events)

    lines = [line for line in engine_lines(caplog) if run.id in line[1]]
    retries = [message for level, message in lines if "retrying in" in message]
    assert len(retries) == 2  # the inline one and the fanned-out one
    for message in retries:
        assert re.fullmatch(
            rf"run {run.id} step 'rc_flaky' attempt 1 failed \(ValueError: rc-(inline|fanned)"
            r" fails once\); retrying in 0\.0\d\ds", message), message
    failures = sorted(message.split(" (")[0] for level, message in lines
                      if level == "ERROR" and "no retries left" in message)
    assert failures == [f"run {run.id} step '{name}' attempt 1 failed" for name in
                        ("rc_broken", "rc_broken_in_process", "rc_stuck")]
    assert (f"run {run.id} step 'rc_stuck' attempt 1 timed out after 0.2s; its body runs "
            "on in its thread and its result will be discarded") in [m for _, m in lines]
    assert len(lines) == 6  # nothing else, and nothing for the steps that succeeded
    assert not [m for _, m in engine_lines(caplog) if "rc_echo" in m or SECRET in m]


@pytest.mark.both_backends
def test_nondeterminism_is_logged(world: Any, caplog: pytest.LogCaptureFixture) -> None:
    run = ws.start(replay_flows.rc_changed_flow, "rc-logged")
    wait_for(lambda: (run.info()["waitingOn"] or {}).get("type") == "hook")
    flows.switches["change"] = True
    ws.resume_hook("rc-logged", None)
    with pytest.raises(ws.RunFailedError):
        run.result(10)
    assert engine_lines(caplog) == [("ERROR", (
        f"run {run.id} failed: nondeterministic_replay: non-deterministic replay at position"
        " 1: the workflow called step 'rc_echo' with other arguments than the log recorded"
        ' (now {"args":{"$tuple":[2]},"kwargs":{}}, recorded {"args":{"$tuple":[1]},'
        '"kwargs":{}}); if they may change between replays, declare the step with '
        "@step(check_args=False)"))]


VICTIM = """
import time

import workflow_studio as ws
import procflows

run = ws.start(procflows.long_run)
print(run.id, flush=True)
time.sleep(60)  # its step runs; the test kills this process meanwhile
"""

SUCCESSOR = """
import sys

import workflow_studio as ws
import procflows

ws.start_executor()
print(ws.get_run(sys.argv[1]).result(timeout=20))
"""


def test_a_recovery_is_logged_by_the_process_that_recovers(tmp_path: Path) -> None:
    write_flows(tmp_path)
    victim = spawn(tmp_path, VICTIM)
    successor = None
    try:
        assert victim.stdout is not None
        run_id = victim.stdout.readline().strip()
        wait_for(lambda: attempts(tmp_path / "slow-attempts"))
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        successor = spawn(tmp_path, SUCCESSOR, run_id)
        out, err = successor.communicate(timeout=30)
        assert (successor.returncode, out) == (0, "2\n"), err
        assert (f"run {run_id} recovered from a claim that never ended (its owner died or "
                "its lease expired; claim 2): replaying 0 recorded calls, anything after "
                "position 0 runs again") in err.splitlines()
    finally:
        stop(victim, successor)


DEBUG_FLOWS = '''
import os
import time
from pathlib import Path

import workflow_studio as ws


def explode(token):
    raise RuntimeError(f"payment provider refused {token}")


@ws.step(max_retries=1, retry_delay=0.01, backoff=1.0)
def pay(directory):
    explode(Path(directory, "token").read_text())


@ws.step(isolation="process", max_retries=0)
def pay_in_process(directory):
    explode(Path(directory, "token").read_text())


@ws.step
def survive(directory):
    marks = Path(directory, "survive")
    with open(marks, "a") as out:
        out.write(f"{os.getpid()}\\n")
    if len(marks.read_text().splitlines()) == 1:
        time.sleep(60)  # the test kills this process meanwhile
    return "survived"


@ws.workflow
def paying(directory, isolated):
    try:
        (pay_in_process if isolated else pay)(directory)
    except ws.StepFailedError as exc:
        return exc.error_type


@ws.workflow
def surviving(directory):
    return survive(directory)
'''


@pytest.mark.e2e
@pytest.mark.both_backends
def test_tracebacks_events_and_log_lines_on_the_worker(tmp_path: Path, worker: Any) -> None:
    remote = ComputeClient(worker.url, ADMIN_KEY)
    config = write_project(tmp_path / "project", {"debug_app/__init__.py": "",
                                                  "debug_app/flows.py": DEBUG_FLOWS},
                           ["debug_app.flows"])
    built = build_project(str(config), tmp_path / "out")
    deployment = remote.create_deployment(built.manifest_path, built.artifact_path)
    remote.activate_deployment(deployment["id"])
    (tmp_path / "token").write_text(ADMIN_KEY)  # a secret of the worker: redacted
    inline = remote.trigger_run("paying", [str(tmp_path), False])["id"]
    isolated = remote.trigger_run("paying", [str(tmp_path), True])["id"]
    survivor = remote.trigger_run("surviving", [str(tmp_path)])["id"]
    assert finished(remote, inline, 30)["output"] == "RuntimeError"
    assert finished(remote, isolated, 30)["output"] == "RuntimeError"

    for run_id, step_name in ((inline, "pay"), (isolated, "pay_in_process")):
        step = remote.run_steps(run_id)["data"][0]
        assert (step["stepName"], step["status"]) == (step_name, "failed")
        stack = step["error"]["stack"]
        assert f"in {step_name}\n    explode(" in stack and "in explode\n    raise" in stack
        assert stack.endswith("RuntimeError: payment provider refused [redacted]\n")
        assert ADMIN_KEY not in stack
        events = remote.run_events(run_id)["data"]
        assert all(e["payload"]["stepName"] == step_name for e in events
                   if e["eventType"].startswith("step_"))
    shown = subprocess.run(
        [sys.executable, "-m", "workflow_studio.cli", "runs", "show", inline, "--steps",
         "--url", worker.url, "--api-key", ADMIN_KEY],
        capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "step 1 pay (attempt 2, failed):\nTraceback (most recent call last):" in (
        shown.stdout)
    assert "RuntimeError: payment provider refused [redacted]" in shown.stdout

    marks = tmp_path / "survive"
    wait_for(lambda: marks.exists() and marks.read_text())
    os.kill(int(marks.read_text().split()[0]), signal.SIGKILL)
    assert finished(remote, survivor, 30)["output"] == "survived"

    log = worker.log()
    assert re.search(rf"run {inline} step 'pay' attempt 1 failed \(RuntimeError: payment "
                     r"provider refused \[redacted\]\); retrying in 0\.0\d\ds", log)
    assert re.search(rf"ERROR .* run {inline} step 'pay' attempt 2 failed \(RuntimeError: "
                     r"payment provider refused \[redacted\]\); no retries left", log)
    assert f"run {isolated} step 'pay_in_process' attempt 1 failed" in log
    assert f"run {survivor} recovered from a claim that never ended" in log
    assert ADMIN_KEY not in log

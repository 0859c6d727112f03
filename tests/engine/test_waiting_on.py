"""``waitingOn`` says what a run waits on now, never what it waited on before (issue 14, item 5).

Found as an app developer would: one process executes a run whose step is retried and then a
long step runs, and a run that fans out and then streams from a later step; another process
(or an API client of the worker) reads the run while that later step runs. It used to show
the finished retry, or the finished fan-out, until the run parked again. Now it shows each
wait while it lasts (the retry and its time, the fanned-out steps) and nothing once the run
executes again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine.e2e_project import wait_for
from tests.engine.local_processes import finish, spawn, stop
from tests.engine.test_e2e import finished
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient
from workflow_studio.sdk.local_world import LocalWorld

FLOWS = '''
import time
from pathlib import Path

import workflow_studio as ws


def hold(directory, name):
    """Block until the test creates ``release-<name>`` (at most 30 s)."""
    deadline = time.time() + 30
    while not Path(directory, "release-" + name).exists() and time.time() < deadline:
        time.sleep(0.01)


@ws.step(max_retries=1, retry_delay=1.5)  # the window in which the test sees the retry
def wobbly(directory):
    if not Path(directory, "wobbled").exists():
        Path(directory, "wobbled").touch()
        raise ValueError("the first attempt fails")
    return "steady"


@ws.step
def long_step(directory):
    Path(directory, "long-started").touch()
    hold(directory, "long")
    return "long done"


@ws.workflow
def retry_then_long(directory):
    return [wobbly(directory), long_step(directory)]


@ws.step
def part(directory, i):
    hold(directory, "parts")
    return i


@ws.step
def chatter(directory):
    out = ws.get_writable("log")
    out.write("first")
    Path(directory, "chatter-started").touch()
    hold(directory, "chatter")
    out.close()
    return "streamed"


@ws.workflow
def fan_then_stream(directory):
    parts = ws.parallel(*[part.defer(directory, i) for i in range(3)])
    return [parts, chatter(directory)]
'''

EXECUTOR = """
import sys
from pathlib import Path

import workflow_studio as ws
import waitflows

retry_dir, fan_dir = sys.argv[1], sys.argv[2]
runs = [ws.start(waitflows.retry_then_long, retry_dir),
        ws.start(waitflows.fan_then_stream, fan_dir)]
Path("run-ids").write_text(" ".join(run.id for run in runs))
for run in runs:
    print(run.result(timeout=60))
"""


Read = Callable[[str], dict[str, Any]]


def waiting(read: Read, run_id: str, kind: str) -> dict[str, Any] | None:
    run = read(run_id)
    on = run["waitingOn"] or {}
    return on if run["status"] == "running" and on.get("type") == kind else None


def executing(read: Read, run_id: str) -> None:
    run = read(run_id)
    assert (run["status"], run["waitingOn"]) == ("running", None), run


def watch_retry(read: Read, run_id: str, directory: Path) -> None:
    """From a process that does not execute the run: the retry while it lasts, then
    nothing while the next step runs."""
    retry = wait_for(lambda: waiting(read, run_id, "retry"))
    assert retry == {"type": "retry", "step": "wobbly", "until": retry["until"]}
    wait_for(lambda: (directory / "long-started").exists())
    executing(read, run_id)
    (directory / "release-long").touch()


def watch_fan_out(read: Read, run_id: str, directory: Path) -> None:
    """The fanned-out steps while they run, then nothing while the streaming step runs."""
    fanned = wait_for(lambda: waiting(read, run_id, "steps"))
    assert fanned == {"type": "steps", "steps": ["part", "part", "part"]}
    (directory / "release-parts").touch()
    wait_for(lambda: (directory / "chatter-started").exists())
    executing(read, run_id)
    (directory / "release-chatter").touch()


def dirs(tmp_path: Path) -> tuple[Path, Path]:
    retry_dir, fan_dir = tmp_path / "retry", tmp_path / "fan"
    retry_dir.mkdir()
    fan_dir.mkdir()
    return retry_dir, fan_dir


def test_waiting_on_follows_the_run_on_the_local_world(tmp_path: Path) -> None:
    (tmp_path / "waitflows.py").write_text(FLOWS)
    retry_dir, fan_dir = dirs(tmp_path)
    executor = spawn(tmp_path, EXECUTOR, str(retry_dir), str(fan_dir))
    reader = LocalWorld(path=tmp_path / "local.db")  # reads only: it never executes

    def read(run_id: str) -> dict[str, Any]:
        run = reader.get_run(run_id)
        assert run is not None
        return run

    try:
        ids = wait_for(lambda: (tmp_path / "run-ids").exists()
                       and (tmp_path / "run-ids").read_text().split())
        watch_retry(read, ids[0], retry_dir)
        watch_fan_out(read, ids[1], fan_dir)
        assert finish(executor, 60).splitlines() == ["['steady', 'long done']",
                                                     "[[0, 1, 2], 'streamed']"]
        assert [read(run_id)["waitingOn"] for run_id in ids] == [None, None]
    finally:
        stop(executor)
        reader.close()


@pytest.mark.e2e
@pytest.mark.both_backends
def test_waiting_on_follows_the_run_on_the_worker(tmp_path: Path, worker: Any) -> None:
    remote = ComputeClient(worker.url, ADMIN_KEY)
    config = write_project(tmp_path / "project", {"wait_app/__init__.py": "",
                                                  "wait_app/flows.py": FLOWS},
                           ["wait_app.flows"])
    built = build_project(str(config), tmp_path / "out")
    deployment = remote.create_deployment(built.manifest_path, built.artifact_path)
    remote.activate_deployment(deployment["id"])
    retry_dir, fan_dir = dirs(tmp_path)
    retried = remote.trigger_run("retry_then_long", [str(retry_dir)])["id"]
    fanned = remote.trigger_run("fan_then_stream", [str(fan_dir)])["id"]
    watch_retry(remote.get_run, retried, retry_dir)
    watch_fan_out(remote.get_run, fanned, fan_dir)
    assert finished(remote, retried)["output"] == ["steady", "long done"]
    assert finished(remote, fanned)["output"] == [[0, 1, 2], "streamed"]

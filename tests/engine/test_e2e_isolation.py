"""On a real gunicorn worker: a process step's child imports the deployment's own code (which
the worker keeps out of ``sys.path``) and is killed at its timeout; ``start()`` in workflow
code is refused there too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine.e2e_project import wait_for
from tests.engine.test_e2e import finished
from tests.engine.test_unrecorded_and_timeouts import gone, marks
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient

pytestmark = pytest.mark.e2e

FLOWS = '''
import os
import time
from pathlib import Path

import workflow_studio as ws
from iso_app.helpers import VERSION


def mark(directory, what):
    with open(Path(directory) / "marks", "a") as out:
        out.write(f"{what} {os.getpid()} {time.time()}\\n")


@ws.step(timeout=0.3, max_retries=1, retry_delay=0.01, backoff=1.0, isolation="process")
def overrun(directory):
    mark(directory, "start")
    time.sleep(1.0)
    mark(directory, "end")
    return "late"


@ws.workflow
def overrunning(directory):
    try:
        return overrun(directory)
    except ws.StepFailedError as exc:
        return f"{exc.error_type} after {exc.attempts}"


@ws.step(isolation="process")
def where(directory):
    mark(directory, "where")
    return {"version": VERSION, "pid": os.getpid()}


@ws.workflow
def isolated(directory):
    return where(directory)


@ws.workflow
def starter():
    ws.start("isolated", "/nonexistent")
    return "started"
'''


def test_process_steps_and_unrecorded_starts_on_the_worker(tmp_path: Path, worker: Any):
    remote = ComputeClient(worker.url, ADMIN_KEY)
    config = write_project(tmp_path / "project", {
        "iso_app/__init__.py": "", "iso_app/helpers.py": "VERSION = 'deployed-7'\n",
        "iso_app/flows.py": FLOWS}, ["iso_app.flows"])
    built = build_project(str(config), tmp_path / "out")
    deployment = remote.create_deployment(built.manifest_path, built.artifact_path)
    remote.activate_deployment(deployment["id"])
    over_dir, where_dir = tmp_path / "over", tmp_path / "where"
    over_dir.mkdir()
    where_dir.mkdir()

    over = remote.trigger_run("overrunning", [str(over_dir)])["id"]
    isolated = remote.trigger_run("isolated", [str(where_dir)])["id"]
    starter = remote.trigger_run("starter")["id"]

    assert finished(remote, over, timeout=30)["output"] == "StepTimeoutError after 2"
    started = marks(over_dir)
    assert [what for what, _, _ in started] == ["start", "start"]  # both killed mid-body
    assert all(gone(pid) for _, pid, _ in started)

    output = finished(remote, isolated, timeout=30)["output"]
    assert output["version"] == "deployed-7"  # the child imported the deployment's code
    child_pid = marks(where_dir)[0][1]
    assert output["pid"] == child_pid
    wait_for(lambda: gone(child_pid), timeout=5)  # a process of its own, not a worker's

    refused = finished(remote, starter, timeout=30)
    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "workflow_error"
    assert "would start a new run on every replay" in refused["error"]["message"]
    assert [r["workflowName"] for r in remote.list_runs(limit=100)["data"]].count(
        "isolated") == 1

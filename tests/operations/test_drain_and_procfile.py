"""drain.sh stops a worker the way its --help says (the step it is running finishes, once),
and deploy/Procfile runs under honcho: release (migrations), then web answering health."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.operations.conftest import BIN, DEPLOY, Result, closed_port
from workflow_studio.client import ComputeClient
from workflow_studio.worker import WorkerServer

pytestmark = pytest.mark.e2e

SLOW_STEP = """
    import time
    from pathlib import Path

    from workflow_studio import step, workflow

    @step
    def slow(marker, seconds):
        Path(marker).write_text("started")
        time.sleep(seconds)
        return "done"

    @workflow
    def maintenance_window(marker, seconds):
        return slow(marker, seconds)
    """


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_drain_lets_the_running_step_finish(start_worker: Callable[..., WorkerServer],
                                            tmp_path: Path,
                                            runbook: Callable[..., Result]) -> None:
    project = write_project(tmp_path / "slow", {"slow_app/__init__.py": "",
                                                "slow_app/flows.py": SLOW_STEP},
                            ["slow_app.flows"])
    worker = start_worker(workers=1)
    deployed = runbook("deploy.sh", "--project", str(project.parent), url=worker.url,
                       key=ADMIN_KEY)
    assert deployed.code == 0, str(deployed)
    remote = ComputeClient(worker.url, ADMIN_KEY)
    marker = tmp_path / "step-started"
    run = remote.trigger_run("maintenance_window", [str(marker), 3])
    deadline = time.monotonic() + 20
    while not marker.exists():  # (a step's start is recorded with its end)
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)

    wrong = runbook("drain.sh", "--pid", str(_children(worker.pid)[0]))
    assert wrong.code == 1 and f"give its master, {worker.pid}" in wrong.err, str(wrong)

    started = time.monotonic()
    drained = runbook("drain.sh", "--pid", str(worker.pid), "--timeout", "40",
                      url=worker.url, key=ADMIN_KEY)
    assert drained.code == 0 and "1 runs running" in drained.err, str(drained)
    assert worker.process.wait(5) == 0 and time.monotonic() - started < 30

    db = sqlite3.connect(tmp_path / "worker.db")
    steps = db.execute("SELECT status, attempt FROM workflow_steps").fetchall()
    db.close()
    assert steps == [("completed", 1)], "the running step was cut off, not finished"
    again = start_worker(workers=1)
    done = ComputeClient(again.url, ADMIN_KEY).get_run(run["id"], wait=20)
    assert (done["status"], done["output"]) == ("completed", "done")

    gone = runbook("drain.sh", "--pid", str(worker.pid))
    assert gone.code == 1 and "no process" in gone.err, str(gone)


def test_procfile_release_then_web(tool: Callable[[str], str], tmp_path: Path) -> None:
    honcho = tool("honcho")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "WORKFLOW_COMPUTE_API_KEY": ADMIN_KEY, "WORKFLOW_WORKERS": "1"})
    procfile = ["-f", str(DEPLOY / "Procfile"), "-d", str(tmp_path)]
    release = subprocess.run([honcho, *procfile, "start", "release"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, check=False)
    assert release.returncode == 0, release.stdout + release.stderr
    db = sqlite3.connect(tmp_path / ".workflow-studio" / "worker.db")
    assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
    db.close()

    port = closed_port()
    web = subprocess.Popen([honcho, *procfile, "start", "-p", str(port), "web"], env=env,
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        deadline, health = time.monotonic() + 40, None
        while time.monotonic() < deadline and web.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, "web never answered"
        assert health.json()["database"] == "ok"
        keys = requests.get(f"http://127.0.0.1:{port}/v1/keys/self", timeout=5,
                            headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert keys.status_code == 200
    finally:
        web.send_signal(signal.SIGTERM)  # honcho passes it on: gunicorn stops gracefully
        try:
            out, _ = web.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            out, _ = web.communicate()
    assert "Shutting down: Master" in out, out

"""End to end on a real gunicorn worker: deploy a project, run its workflows over HTTP."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import build, wait_for
from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def deploy(remote: ComputeClient, root: Path, version: str = "A") -> str:
    result = build(root, version)
    deployment = remote.create_deployment(result.manifest_path, result.artifact_path)
    remote.activate_deployment(deployment["id"])
    return str(deployment["id"])


def finished(remote: ComputeClient, run_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = remote.get_run(run_id, wait=min(5.0, max(0.1, deadline - time.monotonic())))
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run still {run['status']}: {run}")


def parked_on(remote: ComputeClient, run_id: str, kind: str) -> bool:
    run = remote.get_run(run_id)
    return run["status"] == "running" and (run["waitingOn"] or {}).get("type") == kind


@pytest.fixture
def remote(worker: Any) -> ComputeClient:
    return ComputeClient(worker.url, ADMIN_KEY)


def test_workflow_semantics_on_the_worker(tmp_path: Path, remote: ComputeClient) -> None:
    deploy(remote, tmp_path / "project")
    files = str(tmp_path)
    started = {
        "total": remote.trigger_run("total", [10])["id"],
        "retry": remote.trigger_run("retrying", [files, "r-ok", 2])["id"],
        "exhausted": remote.trigger_run("retrying", [files, "r-bad", 99])["id"],
        "fatal": remote.trigger_run("failing")["id"],
        "sleep": remote.trigger_run("sleeper", ["300ms"])["id"],
        "fanout": remote.trigger_run("fanout", [[1, 2, 3, 4, 5]])["id"],
        "hook": remote.trigger_run("waiter", ["tok-1"])["id"],
        "cancel": remote.trigger_run("sleeper", ["1h"])["id"],
        "stream": remote.trigger_run("streaming", [files, 4])["id"],
    }
    assert finished(remote, started["total"])["output"] == 45
    assert finished(remote, started["retry"])["output"] == 3
    exhausted = finished(remote, started["exhausted"])
    assert exhausted["status"] == "failed" and exhausted["error"]["code"] == "step_failed"
    assert len((tmp_path / "r-bad").read_text().splitlines()) == 4
    fatal = finished(remote, started["fatal"])
    assert fatal["status"] == "failed" and "no retry" in fatal["error"]["message"]
    assert remote.run_steps(started["fatal"])["data"][0]["attempt"] == 1
    assert finished(remote, started["sleep"])["output"] == 3
    assert finished(remote, started["fanout"])["output"] == [1, 4, 9, 16, 25]

    wait_for(lambda: parked_on(remote, started["hook"], "hook"))
    with pytest.raises(ComputeClientError) as unknown:
        remote.resume_hook("no-such-token", 1)
    assert unknown.value.status == 404
    remote.resume_hook("tok-1", {"ok": True})
    assert finished(remote, started["hook"])["output"]["payload"] == {"ok": True}

    wait_for(lambda: parked_on(remote, started["cancel"], "sleep"))
    assert remote.cancel_run(started["cancel"])["status"] == "cancelled"
    with pytest.raises(ComputeClientError) as again:
        remote.cancel_run(started["cancel"])
    assert (again.value.status, again.value.code) == (409, "run_terminal")

    first = wait_for(lambda: remote.run_stream(started["stream"], "log")["data"])
    assert first[0]["data"] == "first"
    assert remote.get_run(started["stream"])["status"] == "running"
    (tmp_path / "release-stream").touch()
    assert finished(remote, started["stream"])["output"] == 4
    chunks = remote.run_stream(started["stream"], "log")
    assert [c["data"] for c in chunks["data"] if not c["done"]] == ["first", 1, 2, 3]
    assert chunks["done"] is True

    events = [e["eventType"] for e in remote.run_events(started["sleep"])["data"]]
    assert events[0] == "run_created" and events[-1] == "run_completed"
    assert "wait_created" in events and "wait_completed" in events
    listed = remote.list_runs(status="failed")
    assert {r["id"] for r in listed["data"]} == {started["exhausted"], started["fatal"]}
    page = remote.list_runs(limit=3)
    assert len(page["data"]) == 3 and page["hasMore"] and page["cursor"]


def test_idempotency(tmp_path: Path, worker: Any, remote: ComputeClient,
                     http: requests.Session) -> None:
    url = f"{worker.url}/v1/runs"
    body = {"workflowName": "total", "args": [3]}
    missing = http.post(url, json=body, headers=AUTH)
    assert (missing.status_code, missing.json()["code"]) == (409, "idempotency_required")
    none_active = http.post(url, json=body, headers={**AUTH, "Idempotency-Key": "k0"})
    assert (none_active.status_code, none_active.json()["code"]) == (409,
                                                                    "no_active_deployment")
    deploy(remote, tmp_path / "project")
    unknown = http.post(url, json={"workflowName": "nope"},
                        headers={**AUTH, "Idempotency-Key": "k00"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_workflow")

    first = http.post(url, json=body, headers={**AUTH, "Idempotency-Key": "k1"})
    assert first.status_code == 202
    replay = http.post(url, json=body, headers={**AUTH, "Idempotency-Key": "k1"})
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    conflict = http.post(url, json={**body, "args": [4]},
                         headers={**AUTH, "Idempotency-Key": "k1"})
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")

    results: list[Any] = []
    barrier = threading.Barrier(50)

    def fire() -> None:
        with requests.Session() as session:
            barrier.wait()
            results.append(session.post(url, json=body,
                                        headers={**AUTH, "Idempotency-Key": "burst"}))

    threads = [threading.Thread(target=fire) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results] == [202] * 50
    assert len({r.json()["id"] for r in results}) == 1
    assert len(remote.list_runs(limit=1000)["data"]) == 2


def test_run_pinned_to_its_deployment(tmp_path: Path, remote: ComputeClient) -> None:
    first = deploy(remote, tmp_path / "a", "A")
    old = remote.trigger_run("waiter", ["pin-1"])
    wait_for(lambda: parked_on(remote, old["id"], "hook"))
    second = deploy(remote, tmp_path / "b", "B")
    new = remote.trigger_run("waiter", ["pin-2"])
    wait_for(lambda: parked_on(remote, new["id"], "hook"))
    remote.resume_hook("pin-1", 1)
    remote.resume_hook("pin-2", 2)
    old_run, new_run = finished(remote, old["id"]), finished(remote, new["id"])
    assert (old_run["deploymentId"], old_run["output"]["version"]) == (first, "A")
    assert old_run["output"]["step"] == "A"
    assert (new_run["deploymentId"], new_run["output"]["version"]) == (second, "B")


def test_kill_9_of_the_process_running_a_step(tmp_path: Path, remote: ComputeClient) -> None:
    deploy(remote, tmp_path / "project")
    run = remote.trigger_run("survivor", [str(tmp_path)])
    attempts = tmp_path / "crash-attempts"
    wait_for(lambda: attempts.exists() and attempts.read_text().strip())
    victim = int(attempts.read_text().split()[0])
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(attempts.read_text().splitlines()) >= 2)
    second_pid, second_at = attempts.read_text().splitlines()[1].split()
    assert int(second_pid) != victim
    assert float(second_at) - killed_at < 1.0, "recovery took longer than a second"
    done = finished(remote, run["id"])
    assert done["output"] == {"before": 42, "crash": "done on attempt 2"}
    steps = remote.run_steps(run["id"])["data"]
    assert [(s["stepName"], s["status"]) for s in steps] == [("add", "completed"),
                                                             ("crashable", "completed")]
    events = [e["eventType"] for e in remote.run_events(run["id"])["data"]]
    assert events.count("step_completed") == 2 and events.count("run_completed") == 1


def test_cli_and_the_remote_world(tmp_path: Path, worker: Any, remote: ComputeClient) -> None:
    import json
    import subprocess
    import sys

    from workflow_studio import sdk
    from workflow_studio.client.world import RemoteWorld

    deploy(remote, tmp_path / "project")
    base = [sys.executable, "-m", "workflow_studio.cli"]
    target = ["--url", worker.url, "--api-key", ADMIN_KEY]
    started = subprocess.run([*base, "runs", "start", "total", "--args", "[6]", "--wait", "20",
                              "--json", *target], capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert (run["status"], run["output"]) == ("completed", 15)
    listed = subprocess.run([*base, "runs", "list", *target], capture_output=True, text=True,
                            timeout=60)
    assert run["id"] in listed.stdout and "completed" in listed.stdout
    shown = subprocess.run([*base, "runs", "show", run["id"], "--steps", *target],
                           capture_output=True, text=True, timeout=60)
    assert "result:" in shown.stdout and "add" in shown.stdout

    previous = sdk.set_world(RemoteWorld(remote))
    try:
        handle = sdk.start_with(idempotency_key="remote-1").start("waiter", "remote-tok")
        again = sdk.start_with(idempotency_key="remote-1").start("waiter", "remote-tok")
        assert again.id == handle.id
        wait_for(lambda: parked_on(remote, handle.id, "hook"))
        resumed = subprocess.run([*base, "runs", "resume", "remote-tok", "--payload", '{"x": 1}',
                                  *target], capture_output=True, text=True, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        assert handle.result(20)["payload"] == {"x": 1}
        assert [e["eventType"] for e in handle.events()][-1] == "run_completed"
    finally:
        sdk.set_world(previous)


def test_graceful_stop_finishes_the_running_step(tmp_path: Path, start_worker: Any) -> None:
    server = start_worker()
    remote = ComputeClient(server.url, ADMIN_KEY)
    deploy(remote, tmp_path / "project")
    run = remote.trigger_run("graceful", [str(tmp_path)])
    attempts = tmp_path / "slow-attempts"
    wait_for(lambda: attempts.exists())
    server.process.send_signal(signal.SIGTERM)
    (tmp_path / "release-slow").touch()
    assert server.process.wait(30) == 0
    assert "released" not in server.log()  # nothing left for child_exit: leases were freed
    second = start_worker()
    done = finished(ComputeClient(second.url, ADMIN_KEY), run["id"])
    assert done["output"] == {"slow": 1, "after": 2}
    assert len(attempts.read_text().splitlines()) == 1  # the step was not run again

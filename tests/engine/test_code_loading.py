"""A worker process that cannot load a run's deployment fails the run only for a permanent
reason (issue 14, item 1, on the worker).

Found on a real worker: the deployment's files are not readable on the node at the moment
its run is claimed (on SQLite they are missing; on PostgreSQL the fetch from the database
cannot unpack them). The run used to fail with ``deployment_unavailable``; now the claim is
released with a backoff, the run says why it waits, and it completes once the files are
back. Code that does not import still fails the run, with the import error.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import build, wait_for
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]


def deploy(remote: ComputeClient, root: Path, version: str) -> str:
    result = build(root, version)
    deployment = remote.create_deployment(result.manifest_path, result.artifact_path)
    remote.activate_deployment(deployment["id"])
    return str(deployment["id"])


def waiting_or_ended(remote: ComputeClient, run_id: str) -> dict[str, Any] | None:
    run = remote.get_run(run_id)
    if run["status"] != "running" and run["status"] != "pending":
        return run
    return run if (run["waitingOn"] or {}).get("type") == "executor" else None


def test_a_run_waits_for_code_that_cannot_load_now_and_fails_only_for_broken_code(
        tmp_path: Path, start_worker: Any) -> None:
    server = start_worker(workers=1)
    remote = ComputeClient(server.url, ADMIN_KEY)
    artifacts = tmp_path / "artifacts"

    first = deploy(remote, tmp_path / "a", "A")
    unpacked, aside = artifacts / first, tmp_path / "aside"
    unpacked.rename(aside)
    unpacked.write_text("")  # a file where the directory was: neither read nor unpacked
    run = remote.trigger_run("total", [4], deployment_id=first)
    seen = wait_for(lambda: waiting_or_ended(remote, run["id"]))
    assert (seen["status"], seen["error"]) == ("running", None)
    assert seen["waitingOn"]["deploymentId"] == first
    assert f"cannot load deployment {first}" in seen["waitingOn"]["error"]
    assert seen["waitingOn"]["retryAt"]
    unpacked.unlink()
    aside.rename(unpacked)
    done = remote.get_run(run["id"], wait=20)
    assert (done["status"], done["output"], done["waitingOn"]) == ("completed", 6, None)

    second = deploy(remote, tmp_path / "b", "B")
    source = artifacts / second / "src" / "engine_app"
    shutil.rmtree(source / "__pycache__", ignore_errors=True)
    (source / "flows.py").write_text("raise RuntimeError('broken on purpose')\n")
    broken = remote.get_run(remote.trigger_run("total", [4], deployment_id=second)["id"],
                            wait=20)
    assert broken["status"] == "failed"
    assert broken["error"]["code"] == "deployment_unavailable"
    assert "does not import" in broken["error"]["message"]
    assert "broken on purpose" in broken["error"]["message"]

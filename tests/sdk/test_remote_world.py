"""The SDK on the remote world, against a real worker: the same public exceptions as the
local world for the worker's error answers, and ``ws.list_runs`` over ``GET /v1/runs``
(issue 14, "Debuggability")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.sdk.test_public_errors import parked_on
from workflow_studio import sdk
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError
from workflow_studio.client.world import RemoteWorld

pytestmark = pytest.mark.e2e

SOURCE = """
import workflow_studio as ws


@ws.workflow
def parks_after_hook(token):
    ws.create_hook(token=token).wait()
    ws.sleep("1h")


@ws.step(max_retries=0)
def refuse():
    raise ws.FatalError("refused")


@ws.workflow
def refusing():
    refuse()


@ws.step
def twice(n):
    return 2 * n


@ws.workflow
def doubling(n):
    return twice(n)
"""


@pytest.fixture
def remote_world(tmp_path: Path, worker: Any) -> Iterator[RemoteWorld]:
    """The worker, with the project above active, as this process's world."""
    config = write_project(tmp_path / "project", {"sdk_remote_app/__init__.py": "",
                                                  "sdk_remote_app/flows.py": SOURCE},
                           ["sdk_remote_app.flows"])
    built = build_project(str(config), tmp_path / "project" / "out")
    client = ComputeClient(worker.url, ADMIN_KEY)
    deployment = client.create_deployment(built.manifest_path, built.artifact_path)
    client.activate_deployment(deployment["id"])
    world = RemoteWorld(client)
    previous = sdk.set_world(world)
    yield world
    sdk.set_world(previous)


def test_the_remote_world_raises_the_public_classes(remote_world: RemoteWorld) -> None:
    with pytest.raises(ws.HookNotFoundError) as unknown:
        ws.resume_hook("remote-no-such-token", 1)
    assert isinstance(unknown.value.__cause__, ComputeClientError)  # the worker's answer
    assert unknown.value.__cause__.status == 404
    run = ws.start("parks_after_hook", "remote-once")
    parked_on(run, "hook", timeout=20)
    ws.resume_hook("remote-once", 1)
    with pytest.raises(ws.HookAlreadyResolvedError, match="remote-once"):
        ws.resume_hook("remote-once", 2)
    run.cancel()
    with pytest.raises(ws.RunFailedError) as failed:
        ws.start("refusing").result(20)
    assert failed.value.code is ws.RunErrorCode.STEP_FAILED


def test_list_runs_on_the_remote_world(remote_world: RemoteWorld) -> None:
    doubles = []
    for n in range(3):
        doubles.append(ws.start("doubling", n))
        assert doubles[-1].result(20) == 2 * n
    failing = ws.start("refusing")
    with pytest.raises(ws.RunFailedError):
        failing.result(20)

    assert [s.id for s in ws.list_runs()] == [failing.id, *[r.id for r in doubles][::-1]]
    assert [s.id for s in ws.list_runs(workflow="doubling", limit=2)] == [
        doubles[2].id, doubles[1].id]
    (failed,) = ws.list_runs(status="failed")
    assert isinstance(failed, ws.RunSummary) and failed.workflow_name == "refusing"
    assert failed.error_code is ws.RunErrorCode.STEP_FAILED and failed.trigger_type == "api"
    assert failed.deployment_id is not None and failed.run().status() == "failed"
    assert ws.list_runs(workflow="doubling", status="failed") == []

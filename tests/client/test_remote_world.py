"""``RemoteWorld``'s world-proxy methods against a real worker: a run created and driven
through events, executed by the worker once published, and every read route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import value_project
from tests.engine.e2e_project import wait_for
from workflow_studio.client import ComputeClient, RemoteWorld
from workflow_studio.client.errors import (
    ConflictComputeClientError,
    MissingScopeComputeClientError,
    NotFoundComputeClientError,
)
from workflow_studio.client.retry import NO_RETRY

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]


@pytest.fixture
def world(worker: Any, tmp_path: Path) -> RemoteWorld:
    admin = ComputeClient(worker.url, ADMIN_KEY)
    project = value_project(tmp_path / "project", {"value": 7})
    deployment = admin.create_deployment(project.manifest_path, project.artifact_path)
    admin.activate_deployment(deployment["id"])
    key = admin.create_key("remote-world", ["world:proxy"])["secret"]
    return RemoteWorld(ComputeClient(worker.url, key, retry=NO_RETRY))


def test_remote_world_drives_the_world(world: RemoteWorld, worker: Any) -> None:
    deployment_id = world.deployment_id()
    created = world.create_event(None, "run_created", workflowName="report")
    run_id = created["run"]["id"]
    assert created["run"]["deploymentId"] == deployment_id
    # The hook goes on a run that is never executed: executing a run whose log holds a
    # position its code never reaches is a non-deterministic replay.
    parked = world.create_event(None, "run_created", workflowName="report")["run"]["id"]
    hook = world.create_event(parked, "hook_created", token="remote-1", seq=99)["hook"]
    assert world.get_hook(hook["id"])["token"] == "remote-1"
    assert world.get_hook_by_token("remote-1")["id"] == hook["id"]
    assert [h["id"] for h in world.iterate(world.list_hooks, parked, limit=1)] == [hook["id"]]
    with pytest.raises(ConflictComputeClientError):
        world.create_event(parked, "hook_created", token="other", seq=99)  # same position

    world.write_stream(run_id, "log", "a", {"b": 2})
    world.close_stream(run_id, "log")
    page = world.read_stream_page(run_id, "log")
    assert [c["data"] for c in page["data"]][:2] == ["a", {"b": 2}] and page["done"]
    assert world.stream_chunks(run_id, "log", limit=1)["hasMore"] is True
    assert world.stream_info(run_id, "log")["chunks"] == 2
    assert world.list_streams(run_id) == ["log"]
    key = world.encryption_key(run_id)
    assert key == world.encryption_key(run_id) and len(key) == 43

    world.queue_publish(run_id)  # the worker's executor runs it now
    done = wait_for(lambda: (lambda r: r if r["status"] == "completed" else None)(
        world.get_world_run(run_id)))
    assert done["output"] == {"value": 7}
    events = list(world.iterate(world.list_world_events, run_id, limit=2))
    kinds = [ev["eventType"] for ev in events]
    assert kinds[0] == "run_created" and kinds[-1] == "run_completed"
    assert world.get_event(events[0]["id"])["id"] == events[0]["id"]
    ComputeClient(worker.url, ADMIN_KEY).cancel_run(parked)
    by_hook = world.list_events_by_correlation(hook["id"])["data"]
    # the parked run ended (cancelled), so its hook was disposed
    assert [ev["eventType"] for ev in by_hook] == ["hook_created", "hook_disposed"]
    assert world.list_world_steps(run_id)["data"] == []
    runs = world.list_world_runs(status="completed", workflow_name="report")["data"]
    assert [r["id"] for r in runs] == [run_id]
    with pytest.raises(NotFoundComputeClientError):
        world.get_step("step_01M7YC5AFEJPZ7PVC344DBV2CX")

    outsider = RemoteWorld(ComputeClient(worker.url, ADMIN_KEY))
    assert outsider.get_world_run(run_id)["status"] == "completed"
    reader_key = ComputeClient(worker.url, ADMIN_KEY).create_key("reader", ["runs:read"])
    reader = RemoteWorld(ComputeClient(worker.url, reader_key["secret"], retry=NO_RETRY))
    with pytest.raises(MissingScopeComputeClientError):
        reader.deployment_id()

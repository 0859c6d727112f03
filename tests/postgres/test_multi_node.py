"""Two worker instances (two gunicorn masters, two ports, separate local data) on one
PostgreSQL schema: they share the work, the deployments and the idempotency records, and
one survives the other's death."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import build, wait_for
from tests.engine.test_e2e import finished
from tests.postgres.nodes import kill_instance, pids_in, process_tree
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]
LEASE = 2.0


@pytest.fixture
def nodes(start_worker: Any, tmp_path: Path) -> list[Any]:
    return [start_worker(sqlite_path=str(tmp_path / f"node-{n}" / "worker.db"),
                         artifact_dir=str(tmp_path / f"node-{n}" / "artifacts"),
                         lease_seconds=LEASE)
            for n in ("a", "b")]


def test_deploy_on_one_run_on_both(nodes: list[Any], tmp_path: Path) -> None:
    a, b = (ComputeClient(node.url, ADMIN_KEY) for node in nodes)
    result = build(tmp_path / "project")
    deployment = a.create_deployment(result.manifest_path, result.artifact_path)["id"]
    assert b.activate_deployment(deployment)["id"] == deployment  # b fetches it
    assert (tmp_path / "node-b" / "artifacts" / deployment / "manifest.json").is_file()

    files = tmp_path / "marks"
    files.mkdir()
    started = [(a, b)[i % 2].trigger_run("retrying", [str(files), f"r{i}", 0])["id"]
               for i in range(24)]
    for run_id in started:
        assert finished((a, b)[0], run_id)["status"] == "completed"
    executed_by = {pid for i in range(24) for pid in pids_in(files / f"r{i}")}
    trees = [process_tree(node.process.pid) for node in nodes]
    assert executed_by <= trees[0] | trees[1]
    assert executed_by & trees[0] and executed_by & trees[1], "one node did all the work"


def test_same_idempotency_key_on_two_nodes_creates_one_run(nodes: list[Any],
                                                           tmp_path: Path) -> None:
    a = ComputeClient(nodes[0].url, ADMIN_KEY)
    result = build(tmp_path / "project")
    a.activate_deployment(a.create_deployment(result.manifest_path, result.artifact_path)["id"])
    answers: list[Any] = [None] * 8
    go = threading.Barrier(len(answers))

    def post(index: int) -> None:
        go.wait()
        answers[index] = requests.post(
            f"{nodes[index % 2].url}/v1/runs", json={"workflowName": "total", "args": [3]},
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": "same-key"},
            timeout=30)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(a.list_runs()["data"]) == 1
    assert finished(a, answers[0].json()["id"])["output"] == 3


def test_kill_9_of_a_whole_node_its_run_finishes_on_the_other(nodes: list[Any],
                                                              tmp_path: Path) -> None:
    clients = [ComputeClient(node.url, ADMIN_KEY) for node in nodes]
    result = build(tmp_path / "project")
    clients[0].activate_deployment(
        clients[0].create_deployment(result.manifest_path, result.artifact_path)["id"])
    run = clients[1].trigger_run("survivor", [str(tmp_path)])
    attempts = tmp_path / "crash-attempts"
    wait_for(lambda: attempts.exists() and attempts.read_text().strip())
    victim_pid = pids_in(attempts)[0]
    victim = next(i for i, node in enumerate(nodes)
                  if victim_pid in process_tree(node.process.pid))
    survivor = 1 - victim
    killed = kill_instance(nodes[victim])
    killed_at = time.monotonic()
    wait_for(lambda: len(pids_in(attempts)) >= 2, timeout=LEASE + 10)
    recovered_after = time.monotonic() - killed_at
    assert pids_in(attempts)[1] in process_tree(nodes[survivor].process.pid)
    assert pids_in(attempts)[1] not in killed
    assert recovered_after < LEASE + 2.0, f"recovery took {recovered_after:.1f}s"
    done = finished(clients[survivor], run["id"])
    assert done["output"] == {"before": 42, "crash": "done on attempt 2"}
    events = [e["eventType"] for e in clients[survivor].run_events(run["id"])["data"]]
    assert events.count("step_completed") == 2 and events.count("run_completed") == 1

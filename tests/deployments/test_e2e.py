"""End to end against real gunicorn workers: deploy, activate, roll back, race, and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import ADMIN_KEY, manifest_for, member, tar_bytes, value_project
from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


@pytest.fixture
def remote(worker: Any) -> ComputeClient:
    return ComputeClient(worker.url, ADMIN_KEY)


def _deploy(remote: ComputeClient, result: Any, **options: Any) -> dict[str, Any]:
    return remote.create_deployment(result.manifest_path, result.artifact_path, **options)


def _broken_artifact() -> tuple[bytes, bytes]:
    source = b"import os\n\nraise RuntimeError('boom at import')\n"
    artifact = tar_bytes([member("broken_app/__init__.py", source)])
    return manifest_for(artifact, {"broken_app/__init__.py": source},
                        modules=["broken_app"]), artifact


def test_deploy_activate_second_deploy_rollback(tmp_path: Path, worker: Any,
                                                remote: ComputeClient) -> None:
    with pytest.raises(ComputeClientError) as none:
        remote.get_active_deployment()
    assert (none.value.status, none.value.code) == (409, "no_active_deployment")
    assert "rollback --deployment-id" in (none.value.action or "")

    first = _deploy(remote, value_project(tmp_path / "v1", 1), concurrency=2)
    assert first["version"] == 1 and first["settings"]["concurrency"] == 2
    remote.activate_deployment(first["id"])
    assert remote.get_active_deployment()["id"] == first["id"]

    second = _deploy(remote, value_project(tmp_path / "v2", 2), step_timeout=1.5)
    assert second["version"] == 2 and second["settings"]["stepTimeout"] == 1.5
    active = remote.activate_deployment(second["id"])
    assert (active["id"], active["previousDeploymentId"]) == (second["id"], first["id"])
    assert remote.health()["activeDeployment"] == {"id": second["id"], "version": 2}

    remote.activate_deployment(remote.get_active_deployment()["previousDeploymentId"])
    assert remote.get_active_deployment()["id"] == first["id"]
    assert remote.health()["activeDeployment"] == {"id": first["id"], "version": 1}
    listed = remote.list_deployments()["data"]
    assert [(d["version"], d["active"]) for d in listed] == [(2, False), (1, True)]


def test_broken_artifact_never_becomes_active(tmp_path: Path, worker: Any,
                                              remote: ComputeClient) -> None:
    good = _deploy(remote, value_project(tmp_path / "good", 1))
    remote.activate_deployment(good["id"])
    manifest, artifact = _broken_artifact()
    broken = remote.create_deployment(manifest, artifact)  # verifies fine: it is well-formed
    with pytest.raises(ComputeClientError) as failed:
        remote.activate_deployment(broken["id"])
    assert (failed.value.status, failed.value.code) == (400, "activation_failed")
    assert "broken_app/__init__.py:3" in failed.value.message
    assert "boom at import" in failed.value.message
    assert remote.get_active_deployment()["id"] == good["id"]
    assert remote.get_deployment(broken["id"])["status"] == "ready"


def _race(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported through the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_uploads_get_distinct_versions(tmp_path: Path, worker: Any) -> None:
    result = value_project(tmp_path / "p", 1)
    clients = [ComputeClient(worker.url, ADMIN_KEY) for _ in range(4)]
    created = _race([lambda c=c: _deploy(c, result) for c in clients])
    assert all(isinstance(d, dict) for d in created), created
    assert sorted(d["version"] for d in created) == [1, 2, 3, 4]
    assert len({d["id"] for d in created}) == 4


def test_concurrent_activations_leave_exactly_one_active(tmp_path: Path, worker: Any,
                                                         remote: ComputeClient) -> None:
    result = value_project(tmp_path / "p", 1)
    ids = [_deploy(remote, result)["id"] for _ in range(3)]
    clients = [ComputeClient(worker.url, ADMIN_KEY) for _ in ids]
    outcome = _race([lambda c=c, i=i: c.activate_deployment(i)
                     for c, i in zip(clients, ids, strict=True)])
    assert all(isinstance(o, dict) for o in outcome), outcome
    active = remote.get_active_deployment()["id"]
    assert active in ids
    rows = remote.list_deployments()["data"]
    assert [d["id"] for d in rows if d["active"]] == [active]
    assert [d["id"] for d in rows if d["status"] == "active"] == [active]


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run([sys.executable, "-m", "workflow_studio.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_deploys_the_hello_example(tmp_path: Path, worker: Any) -> None:
    project = tmp_path / "hello"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".workflow-studio",
                                                                    "__pycache__"))
    remote = ["--url", worker.url, "--api-key", ADMIN_KEY]

    none = _cli(project, "deployments", "active", *remote)
    assert none.returncode == 1
    assert "no_active_deployment" in none.stderr and "action:" in none.stderr

    done = _cli(project, "deploy", *remote, "--concurrency", "3")
    assert done.returncode == 0, done.stderr
    assert "Uploading" in done.stderr
    assert "version 1 (active)" in done.stdout and "greet" in done.stdout

    again = _cli(project, "deploy", *remote, "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["version"] == 2 and second["active"] is True

    back = _cli(project, "rollback", *remote)
    assert back.returncode == 0, back.stderr
    active = json.loads(_cli(project, "deployments", "active", "--json", *remote).stdout)
    assert active["version"] == 1 and active["settings"]["concurrency"] == 3

    listed = _cli(project, "deployments", "list", *remote)
    assert listed.returncode == 0 and "active" in listed.stdout
    shown = _cli(project, "deployments", "show", second["id"], *remote)
    assert shown.returncode == 0 and "inactive" in shown.stdout

    bad = _cli(project, "compute", "activate", "--deployment-id", "nope", *remote)
    assert bad.returncode == 1 and "invalid_deployment_id" in bad.stderr
    assert "action:" in bad.stderr


def test_cli_compute_stages(tmp_path: Path, worker: Any) -> None:
    project = tmp_path / "hello"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".workflow-studio",
                                                                    "__pycache__"))
    remote = ["--url", worker.url, "--api-key", ADMIN_KEY]
    assert _cli(project, "compute", "build").returncode == 0
    uploaded = _cli(project, "compute", "deploy", "--json", *remote)
    assert uploaded.returncode == 0, uploaded.stderr
    created = json.loads(uploaded.stdout)
    assert created["active"] is False
    activated = _cli(project, "compute", "activate", "--deployment-id", created["id"], *remote)
    assert activated.returncode == 0, activated.stderr
    assert "(active)" in activated.stdout

"""The loading API the engine uses: each deployment runs its own code, in one process."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from tests.deployments.helpers import value_project
from workflow_studio.compute.ids import new_id
from workflow_studio.worker.deployments.loader import (
    DeploymentLoader,
    DeploymentLoadError,
    load_deployment,
)
from workflow_studio.worker.deployments.verify import Limits, verify_and_unpack

LIMITS = Limits(10 * 1024 * 1024, 10 * 1024 * 1024, 100)


def _deploy(tmp_path: Path, value: object, name: str) -> str:
    result = value_project(tmp_path / name, value)
    deployment_id = new_id("dpl")
    with open(result.artifact_path, "rb") as artifact:
        verify_and_unpack(result.manifest_path.read_bytes(), artifact, tmp_path / "artifacts",
                          deployment_id, LIMITS)
    return deployment_id


def test_two_deployments_with_the_same_module_names_keep_their_own_code(tmp_path: Path) -> None:
    first = _deploy(tmp_path, "one", "v1")
    second = _deploy(tmp_path, "two", "v2")
    a = load_deployment(tmp_path / "artifacts", first)
    b = load_deployment(tmp_path / "artifacts", second)
    assert a.registry.steps["value"].fn() == "one"
    assert b.registry.steps["value"].fn() == "two"
    assert a.registry.workflows["report"].fn() == "one"
    assert b.registry.workflows["report"].fn() == "two"
    # Loading the second did not change what the first's functions see, and neither leaked.
    assert a.registry.steps["value"].fn() == "one"
    assert not any(n == "shared_app" or n.startswith("shared_app.") for n in sys.modules)
    assert str(a.source_dir) not in sys.path and str(b.source_dir) not in sys.path
    assert a.root == (tmp_path / "artifacts" / first).resolve()
    assert a.modules["shared_app.helpers"] is not b.modules["shared_app.helpers"]


def test_host_module_of_the_same_name_is_restored(tmp_path: Path, monkeypatch) -> None:
    deployment_id = _deploy(tmp_path, "deployed", "v1")
    host = type(sys)("shared_app")
    monkeypatch.setitem(sys.modules, "shared_app", host)
    loaded = load_deployment(tmp_path / "artifacts", deployment_id)
    assert loaded.registry.steps["value"].fn() == "deployed"
    assert sys.modules["shared_app"] is host


def test_loading_is_cached_and_thread_safe(tmp_path: Path) -> None:
    deployment_id = _deploy(tmp_path, 7, "v1")
    cache = DeploymentLoader(tmp_path / "artifacts")
    results = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        results.append(cache.load(deployment_id))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_missing_or_malformed_deployment(tmp_path: Path) -> None:
    with pytest.raises(DeploymentLoadError, match="not unpacked on this node"):
        load_deployment(tmp_path / "artifacts", new_id("dpl"))
    with pytest.raises(DeploymentLoadError, match="not a deployment id"):
        load_deployment(tmp_path / "artifacts", "../../etc")


def test_broken_code_raises_load_error_and_cleans_up(tmp_path: Path) -> None:
    deployment_id = _deploy(tmp_path, 1, "v1")
    flows = tmp_path / "artifacts" / deployment_id / "src" / "shared_app" / "flows.py"
    flows.write_text("raise RuntimeError('broken on this node')\n")
    with pytest.raises(DeploymentLoadError, match="broken on this node"):
        load_deployment(tmp_path / "artifacts", deployment_id)
    assert not any(n.startswith("shared_app") for n in sys.modules)


def test_fetch_hook_is_called_when_files_are_missing(tmp_path: Path) -> None:
    result = value_project(tmp_path / "p", "fetched")
    deployment_id = new_id("dpl")
    calls = []

    def fetch(root: Path, wanted: str) -> None:
        calls.append(wanted)
        with open(result.artifact_path, "rb") as artifact:
            verify_and_unpack(result.manifest_path.read_bytes(), artifact, root, wanted, LIMITS)

    loaded = load_deployment(tmp_path / "artifacts", deployment_id, fetch=fetch)
    assert calls == [deployment_id]
    assert loaded.registry.steps["value"].fn() == "fetched"

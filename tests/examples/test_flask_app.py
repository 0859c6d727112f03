"""The Flask example, run twice as a real app server in a subprocess: once on the local
world, once against a real worker with the example's workflows deployed. Only the
environment differs, and the results must be the same."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"
ORDERS = [
    {"orderId": "A-1", "items": [{"sku": "apple", "qty": 3}, {"sku": "melon", "qty": 1}]},
    {"orderId": "B-2", "items": [{"sku": "pear", "qty": 4}]},
    {"orderId": "C-3", "items": [{"sku": "durian", "qty": 1}]},  # unknown product: fails
]


class App:
    """``python app.py`` in a subprocess; ready once it prints its URL."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "app.py")], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.process.stdout is not None
        for line in self.process.stdout:  # blocks until the server is listening
            if line.startswith("listening on "):
                self.url = line.split()[-1]
                break
        else:
            raise RuntimeError(f"the example app exited with {self.process.wait()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def run_app(tmp_path: Path) -> Iterator[Any]:
    apps: list[App] = []

    def start(name: str, **env: str) -> App:
        cwd = tmp_path / name
        cwd.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
        base.update(PORT="0", WORKFLOW_LOCAL_DB=str(cwd / "local.db"),
                    WORKFLOW_DIAGNOSTICS_DIR=str(cwd / "diagnostics"), **env)
        app = App(base, cwd)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


def place_orders(app: App) -> list[dict[str, Any]]:
    """Place every order (twice: the second is idempotent) and collect the outcomes."""
    outcomes = []
    with requests.Session() as http:
        for order in ORDERS:
            first = http.post(f"{app.url}/orders", json=order, timeout=30)
            assert first.status_code == 202, first.text
            again = http.post(f"{app.url}/orders", json=order, timeout=30)
            assert again.json()["runId"] == first.json()["runId"]
            shown = http.get(f"{app.url}/orders/{first.json()['runId']}", params={"wait": 20},
                             timeout=40).json()
            assert shown.pop("runId") == first.json()["runId"]
            outcomes.append(shown)
        missing = http.get(f"{app.url}/orders/wrun_01M7YC5AFEJPZ7PVC344DBV2CX", timeout=30)
        assert missing.status_code == 404
        diagnostics = http.get(f"{app.url}/.well-known/workflow/v1/diagnostics", timeout=30)
        outcomes.append({"remote": diagnostics.json()["remote"]})
    return outcomes


def test_same_app_local_then_remote(run_app: Any, start_worker: Any, tmp_path: Path) -> None:
    local = place_orders(run_app("local"))
    assert local[0] == {"status": "completed", "error": None, "result": {
        "orderId": "A-1", "total": "4.50", "status": "confirmed",
        "reservations": ["A-1:applex3", "A-1:melonx1"]}}
    assert local[2]["status"] == "failed" and "durian" in local[2]["error"]
    assert local[3] == {"remote": False}

    worker = start_worker()
    remote_client = ComputeClient(worker.url, ADMIN_KEY)
    built = build_project(str(EXAMPLE / "workflow_config.py"), tmp_path / "build")
    deployment = remote_client.create_deployment(built.manifest_path, built.artifact_path)
    remote_client.activate_deployment(deployment["id"])

    remote = place_orders(run_app("remote", WORKFLOW_TARGET_WORLD="workflow-studio/world-remote",
                                  WORKFLOW_COMPUTE_BASE_URL=worker.url,
                                  WORKFLOW_COMPUTE_API_KEY=ADMIN_KEY))
    assert remote[:3] == local[:3]
    assert remote[3] == {"remote": True}
    runs = remote_client.list_runs(workflow="place_order")["data"]
    assert len(runs) == 3 and {r["triggerType"] for r in runs} == {"api"}

"""Long-polls never take every request thread: health and short requests still answer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import build, wait_for
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_waiting_clients_cannot_starve_the_worker(tmp_path: Path, start_worker: Any) -> None:
    worker = start_worker(workers=1, threads=3)  # at most 2 long-polls held at once
    remote = ComputeClient(worker.url, ADMIN_KEY)
    result = build(tmp_path / "project")
    deployment = remote.create_deployment(result.manifest_path, result.artifact_path)
    remote.activate_deployment(deployment["id"])
    run_id = remote.trigger_run("sleeper", ["1h"])["id"]
    wait_for(lambda: (remote.get_run(run_id)["waitingOn"] or {}).get("type") == "sleep")

    answers: list[int] = []
    release = threading.Event()

    def long_poll() -> None:
        response = requests.get(f"{worker.url}/v1/runs/{run_id}?wait=30", headers=AUTH,
                                timeout=60)
        answers.append(response.status_code)
        release.wait(60)

    polls = [threading.Thread(target=long_poll) for _ in range(6)]
    for poll in polls:
        poll.start()
    # The 4 polls beyond the 2 permits are answered at once with the current state...
    wait_for(lambda: len(answers) >= 4)
    # ...and a health check gets a thread even while the permitted polls wait.
    assert requests.get(f"{worker.url}/v1/health", timeout=10).status_code == 200
    remote.cancel_run(run_id)  # ends the held polls too
    wait_for(lambda: len(answers) == 6)
    release.set()
    for poll in polls:
        poll.join(10)
    assert answers == [200] * 6

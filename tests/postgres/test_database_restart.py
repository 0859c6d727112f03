"""PostgreSQL restarts under load: requests during the outage get 503 database_unavailable
(never a 500), no accepted run is lost, every run finishes.

It restarts the server every PostgreSQL test uses, so it must run alone: ``scripts/test``
runs it in a second, serial pytest session; under several xdist workers it is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import build, wait_for
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only, pytest.mark.restarts_database]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def _ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"],
                          check=False).returncode == 0


@pytest.fixture
def restartable() -> Iterator[None]:
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.skip("restarts PostgreSQL under every parallel test: run alone (scripts/test)")
    if not shutil.which("pg_ctlcluster") or not os.path.isdir("/etc/postgresql"):
        pytest.fail("this test needs a local PostgreSQL cluster managed by pg_ctlcluster")
    yield
    if not _ready():  # whatever happened, leave the server running
        subprocess.run([*_cluster(), "start"], check=False)
        wait_for(_ready, timeout=60, interval=0.2)


def test_restart_under_load_loses_nothing(restartable: None, start_worker: Any,
                                          tmp_path: Path) -> None:
    server = start_worker(lease_seconds=3.0)
    remote = ComputeClient(server.url, ADMIN_KEY)
    result = build(tmp_path / "project")
    remote.activate_deployment(
        remote.create_deployment(result.manifest_path, result.artifact_path)["id"])

    accepted: list[str] = []
    refused: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answer = session.post(
                        f"{server.url}/v1/runs", json={"workflowName": "total", "args": [4]},
                        headers={**AUTH, "Idempotency-Key": uuid.uuid4().hex}, timeout=30)
                except requests.RequestException as exc:
                    refused.append((0, str(exc)))
                    continue
                if answer.status_code == 202:
                    accepted.append(answer.json()["id"])
                else:
                    code = answer.json().get("code", "")
                    refused.append((answer.status_code, code))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(accepted) >= 30, timeout=30)
        subprocess.run([*_cluster(), "restart"], check=True, timeout=120)
        wait_for(_ready, timeout=60, interval=0.1)
        before = len(accepted)
        wait_for(lambda: len(accepted) >= before + 30, timeout=30)  # accepting again
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    assert refused, "no request met the outage"
    assert {status for status, _ in refused} <= {503}, refused[:10]
    assert {code for _, code in refused} <= {"database_unavailable"}, refused[:10]
    deadline = time.monotonic() + 60
    unfinished = set(accepted)
    while unfinished and time.monotonic() < deadline:
        for run_id in list(unfinished):
            run = remote.get_run(run_id)
            if run["status"] in ("completed", "failed", "cancelled"):
                assert (run["status"], run["output"]) == ("completed", 6), run
                unfinished.discard(run_id)
        if unfinished:
            time.sleep(0.2)
    assert not unfinished, f"{len(unfinished)} of {len(accepted)} accepted runs never finished"

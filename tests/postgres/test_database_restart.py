"""PostgreSQL restarts under load: requests during the outage get 503 database_unavailable
(never a 500), no accepted run is lost, every run finishes.

The server it restarts is a throwaway cluster of its own (``initdb`` in a temporary
directory, ``pg_ctl`` on a free port), so the suite never disturbs the machine's PostgreSQL
or the tests running beside it; a check at the end proves the main server kept running.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import ADMIN_KEY, POSTGRES_URL
from tests.engine.e2e_project import build, wait_for
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _server_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


class Cluster:
    """A PostgreSQL server of this test's own: trust auth, loopback, a free port."""

    def __init__(self, directory: Path) -> None:
        self.data, self.log = directory / "data", directory / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server refuses to run as root: hand it the directory
            shutil.chown(directory, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                 "--no-sync", timeout=120)

    def _pg(self, name: str, *args: str, timeout: float = 60) -> None:
        binary = _server_bin(name)
        assert binary, f"{name} not found"
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, binary, *args], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def ctl(self, action: str) -> None:
        options = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
                   " -c fsync=off")
        self._pg("pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-m", "fast",
                 "-l", str(self.log), "-o", options, timeout=90)

    def stop(self) -> None:
        self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def ready(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
            return True
        except psycopg.OperationalError:
            return False


def _main_server_started() -> Any:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        return row[0] if row else None


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _server_bin("initdb") or not _server_bin("pg_ctl"):
        if os.environ.get("CI"):
            pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    started_main = _main_server_started()
    # Short: the server's socket path must fit in 107 bytes.
    directory = Path(f"/tmp/ws-pg-{uuid.uuid4().hex[:8]}")
    server = Cluster(directory)
    server.ctl("start")
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    assert _main_server_started() == started_main, "the machine's PostgreSQL was restarted"


def test_restart_under_load_loses_nothing(cluster: Cluster, start_worker: Any,
                                          tmp_path: Path) -> None:
    server = start_worker(lease_seconds=3.0, postgres_url=cluster.url,
                          postgres_schema="restart_test")
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
        cluster.ctl("restart")
        wait_for(cluster.ready, timeout=60, interval=0.1)
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

"""The ComputeClient (and the remote world on it) retries 503 ``database_busy`` like the
other 503s, after its ``Retry-After``: a start meeting a held writer lock is answered 503
within ``lock_timeout``, and the retry, with the same Idempotency-Key, starts the run once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import wait_for
from tests.engine.test_e2e import deploy, finished
from tests.faults.holder import LockHolder
from workflow_studio.client import ComputeClient
from workflow_studio.client.world import RemoteWorld

pytestmark = pytest.mark.e2e
LOCK_TIMEOUT = 0.5


def test_a_start_answered_database_busy_is_retried(tmp_path: Path, start_worker: Any) -> None:
    server = start_worker(lock_timeout=LOCK_TIMEOUT)
    remote = ComputeClient(server.url, ADMIN_KEY)
    deploy(remote, tmp_path / "project")
    world = RemoteWorld(remote)
    with LockHolder(str(tmp_path / "worker.db"), in_transaction=True) as holder:
        released = threading.Timer(2 * LOCK_TIMEOUT, holder.release)  # a holder that moves on
        released.start()
        started = time.monotonic()
        run = world.start_run("total", (4,), {}, idempotency_key="busy-once")
        took = time.monotonic() - started
        released.join()
    assert LOCK_TIMEOUT + 1.0 <= took < 5, took  # a 503 after the timeout, Retry-After: 1

    def answers() -> list[str]:  # the access log line follows the response
        return [line.split('" ')[1].split()[0] for line in server.log().splitlines()
                if '"POST /v1/runs ' in line]
    wait_for(lambda: len(answers()) >= 2)
    assert answers() == ["503", "202"]
    assert finished(remote, run["id"])["output"] == 6
    assert [r["id"] for r in remote.list_runs()["data"] if r["workflowName"] == "total"] == [
        run["id"]]

"""A gunicorn master releases its own dead process's claims, and only those: claims are
owned by (node, pid), where each master draws its node, so two containers that share a
host name (and, with their own pid namespaces, reuse each other's pids) never release each
other's work."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workflow_studio.config.settings import load_settings
from workflow_studio.engine import runs as starts
from workflow_studio.storage import open_database
from workflow_studio.storage.world import queue

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
READY = re.compile(r"worker process ready \(pid (\d+), node (\S+)\)")


def _claimed_by(conn: Any, node: str, pid: int) -> Any:
    request = starts.StartRequest("wf", deployment=starts.Target("dpl_x", ("wf",)),
                                  enqueue=False)
    with conn.transaction():
        run = starts.start_run(conn, request).run
        return queue.enqueue_claimed(conn, run["id"], "dpl_x", node, pid, 3_600_000)


def test_a_dead_process_frees_only_its_own_masters_claims(
        tmp_path: Path, start_worker: Callable[..., Any],
        backend_options: dict[str, Any]) -> None:
    server = start_worker(workers=2)
    (victim, node), _ = READY.findall(server.log())[:2]
    victim_pid = int(victim)
    assert node.startswith(socket.gethostname() + "/")
    db = open_database(load_settings(environ={}, options={
        **backend_options, "sqlite_path": str(tmp_path / "worker.db")}))
    try:
        conn = db.connection()
        ours = _claimed_by(conn, node, victim_pid)
        # Another container of the same host name whose process has the same pid number.
        theirs = _claimed_by(conn, socket.gethostname(), victim_pid)
        other_master = _claimed_by(conn, f"{socket.gethostname()}/0badc0de", victim_pid)
        os.kill(victim_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while queue.holds(conn, ours["id"], ours["claim_token"]):
            assert time.monotonic() < deadline, "child_exit never released the claim"
            time.sleep(0.02)
        assert queue.holds(conn, theirs["id"], theirs["claim_token"])
        assert queue.holds(conn, other_master["id"], other_master["claim_token"])
    finally:
        db.close()

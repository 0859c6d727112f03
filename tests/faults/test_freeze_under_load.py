"""One of three worker processes frozen (SIGSTOP) at random moments under load, 12 times:
every probe answers within ``lock_timeout`` + 0.5 s with 2xx or 503 ``database_busy``, and
every accepted run completes exactly once.

The freeze lands where it hurts: on SQLite on the process holding the writer lock (read
from /proc/locks), on PostgreSQL on one inside a transaction that holds the API key's
rate-limit row, which every request of that key updates (read from pg_locks, the backend
matched to its process by the connection's port). Unbounded, each probe waited for the
whole freeze."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import random
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.engine.test_e2e import deploy
from tests.faults.load import Answer, Load, assert_each_completed_once, trigger
from tests.faults.procfs import children, flock_holders, port_owners, wait_stopped
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
LOCK_TIMEOUT = 1.0
BOUND = LOCK_TIMEOUT + 0.5
FREEZES = 12
FREEZE = 2.0  # seconds each: longer than the bound, so a probe that waits it out fails


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def freeze_holder(workers: list[int], holds: Callable[[int], bool],
                  candidates: Callable[[], set[int]]) -> tuple[int, bool]:
    """SIGSTOP a worker caught holding what the others need (``holds`` confirms it once
    stopped); after 200 misses, a random worker. Returns (pid, whether it holds)."""
    for _ in range(200):
        found = candidates() & set(workers)
        if not found:
            time.sleep(0.002)  # poll: the holder changes every few hundred microseconds
            continue
        pid = random.choice(sorted(found))
        os.kill(pid, signal.SIGSTOP)
        wait_stopped(pid)
        if holds(pid):
            return pid, True
        os.kill(pid, signal.SIGCONT)  # it let go before it stopped: try again
    pid = random.choice(workers)
    os.kill(pid, signal.SIGSTOP)
    wait_stopped(pid)
    return pid, False


class PostgresLocks:
    """Which worker process is inside a transaction holding the rate-limit row."""

    def __init__(self, url: str, schema: str, workers: list[int]) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.table = f'"{schema}".rate_limit_windows'
        self.workers = workers
        self.ports: dict[int, int] = {}
        self.seen: dict[int, tuple[int, Any]] = {}  # worker pid -> (backend, xact start)

    def _holding(self) -> list[tuple[int, int, Any]]:
        return self.conn.execute(
            "SELECT a.pid, a.client_port, a.xact_start FROM pg_locks l JOIN pg_stat_activity"
            " a ON a.pid = l.pid WHERE l.locktype = 'relation' AND l.granted AND l.mode ="
            " 'RowExclusiveLock' AND l.relation = to_regclass(%s) AND a.pid <>"
            " pg_backend_pid()", (self.table,)).fetchall()

    def candidates(self) -> set[int]:
        self.seen = {}
        for backend, port, started in self._holding():
            if port not in self.ports:
                self.ports = port_owners(self.workers)
            owner = self.ports.get(port)
            if owner is not None:
                self.seen[owner] = (backend, started)
        return set(self.seen)

    def holds(self, pid: int) -> bool:
        backend, started = self.seen[pid]
        return any((b, s) == (backend, started) for b, _, s in self._holding())

    def close(self) -> None:
        self.conn.close()


def test_one_frozen_process_holds_no_probe_past_the_bound(
        tmp_path: Path, start_worker: Any, backend: str,
        backend_options: dict[str, Any]) -> None:
    server = start_worker(workers=3, threads=8, lock_timeout=LOCK_TIMEOUT,
                          rate_limit_per_minute=10**9)
    deploy(ComputeClient(server.url, ADMIN_KEY), tmp_path / "project")
    workers = children(server.pid)
    assert len(workers) == 3
    database = str(tmp_path / "worker.db")
    cleanup = contextlib.ExitStack()
    if backend == "sqlite":
        lock = f"{database}-writer.lock"

        def candidates() -> set[int]:
            return flock_holders(lock)

        def holds(pid: int) -> bool:
            return pid in flock_holders(lock)
        where: Any = database
    else:
        locks = PostgresLocks(backend_options["postgres_url"],
                              backend_options["postgres_schema"], workers)
        cleanup.callback(locks.close)
        candidates, holds = locks.candidates, locks.holds
        where = (backend_options["postgres_url"], backend_options["postgres_schema"])

    probes: list[tuple[Answer, bool]] = []
    load = Load(server.url, clients=6)
    with cleanup, load.running():
        deadline = time.monotonic() + 30
        while len(load.accepted) < 20:
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.05)
        for _ in range(FREEZES):
            pid, holding = freeze_holder(workers, holds, candidates)
            stopped_at = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                with stopped(pid):  # continued after FREEZE s, whatever the probe does
                    probe = pool.submit(trigger, server.url, uuid.uuid4().hex)
                    with contextlib.suppress(concurrent.futures.TimeoutError):
                        probe.result(timeout=FREEZE)
                    time.sleep(max(0.0, FREEZE - (time.monotonic() - stopped_at)))
                probes.append((probe.result(timeout=60), holding))
            time.sleep(random.uniform(0.2, 0.6))  # load between freezes
    assert children(server.pid) == workers, "a frozen process was replaced"
    assert sum(holding for _, holding in probes) >= FREEZES // 2, ("the freezes missed",
                                                                    probes)
    slow = [(a.seconds, a.status, a.code) for a, _ in probes if a.seconds > BOUND]
    assert slow == [], f"probes slower than {BOUND}s"
    assert {(a.status, a.code) for a, _ in probes} <= {(200, ""), (202, ""),
                                                      (503, "database_busy")}
    assert {a.code for a in load.refused} <= {"database_busy"}
    accepted = set(load.accepted)
    for answer, _ in probes:
        if answer.run_id is None:  # retried with the same key, as a client would
            again = trigger(server.url, answer.key)
            assert again.run_id is not None, again
            accepted.add(again.run_id)
        else:
            accepted.add(answer.run_id)
    assert_each_completed_once(backend, where, accepted)

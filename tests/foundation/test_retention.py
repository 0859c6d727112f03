"""Retention: audit rows and webhook delivery records older than
``worker.retention.audit_days`` are purged in bounded batches, by one process at a time,
from the engine heartbeat through the Runtime's purge hook. Time is an injected clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from workflow_studio.engine.executor import Executor
from workflow_studio.engine.runtime import Runtime
from workflow_studio.storage import audit, ratelimit, retention, webhooks
from workflow_studio.worker import create_app
from workflow_studio.worker.context import EXTENSION

pytestmark = pytest.mark.both_backends
NOW = 1_900_000_000_000
DAY = 86_400_000


class FakeClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


def add_audit(conn: Any, created_at: int, count: int, path: str) -> None:
    conn.insert_many(
        "INSERT INTO audit_log (created_at, key_id, method, route, path, status,"
        " correlation_id, run_id, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(created_at, None, "POST", "/v1/keys", path, 201, "-", None, "{}")] * count)


def add_delivery(conn: Any, delivery_id: str, received_at: int) -> None:
    conn.execute("INSERT INTO webhook_deliveries (provider, delivery_id, received_at)"
                 " VALUES (?, ?, ?)", ("github", delivery_id, received_at))


def count(conn: Any, table: str, where: str = "1 = 1") -> int:
    row = conn.query_one(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}")
    return int(row["n"])


def test_old_rows_go_in_bounded_batches_and_recent_ones_stay(
        make_database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 50)
    monkeypatch.setattr(retention, "MAX_BATCHES", 4)  # 200 rows per table per pass
    conn = make_database().connection()
    with conn.transaction():
        add_audit(conn, NOW - 91 * DAY, 230, "/old")
        add_audit(conn, NOW - 89 * DAY, 3, "/recent")
        for n in range(5):
            add_delivery(conn, f"old-{n}", NOW - 120 * DAY)
        add_delivery(conn, "recent", NOW - DAY)
    for window, bucket in ((NOW - 180_000, "addr:gone"), (NOW - NOW % 60_000, "addr:now")):
        ratelimit.count_auth_failure(conn, [bucket], window)

    first = retention.run_pass(conn, NOW, audit_days=90)
    assert first == {"auth_failure_windows": 1, "audit_log": 200, "webhook_deliveries": 5}
    assert count(conn, "audit_log", "path = '/old'") == 30  # the rest waits for a pass
    assert [r["bucket"] for r in conn.query("SELECT bucket FROM auth_failure_windows")
            ] == ["addr:now"]  # the current minute's counts stay
    assert retention.run_pass(conn, NOW + 1_000, audit_days=90) is None  # not due yet
    second = retention.run_pass(conn, NOW + retention.INTERVAL_MS, audit_days=90)
    assert second is not None and second["audit_log"] == 30
    assert count(conn, "audit_log", "path = '/old'") == 0
    assert count(conn, "audit_log", "path = '/recent'") == 3
    assert [r["delivery_id"] for r in conn.query("SELECT delivery_id FROM webhook_deliveries")
            ] == ["recent"]


def test_zero_days_keeps_the_audit_forever(make_database: Any) -> None:
    conn = make_database().connection()
    with conn.transaction():
        add_audit(conn, NOW - 3_000 * DAY, 2, "/ancient")
    assert retention.run_pass(conn, NOW, audit_days=0) == {"auth_failure_windows": 0}
    assert count(conn, "audit_log") == 2


def test_one_process_at_a_time_claims_the_pass(make_database: Any) -> None:
    """Four handles (as four processes would have) race for the slot at one instant."""
    databases = [make_database() for _ in range(4)]
    for db in databases:
        db.connection()
    start = threading.Barrier(len(databases))
    won: list[bool] = []

    def race(db: Any) -> None:
        start.wait()
        won.append(retention.claim_slot(db.connection(), "retention", NOW, 60_000))

    threads = [threading.Thread(target=race, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(won) == [False, False, False, True]


def test_the_worker_purges_through_the_runtime_with_its_clock(make_settings: Any) -> None:
    app = create_app(make_settings(retention_audit_days=30))
    worker = app.extensions[EXTENSION]
    worker.runtime.clock = FakeClock(NOW)
    conn = worker.db.connection()
    with conn.transaction():
        add_audit(conn, NOW - 31 * DAY, 3, "/old")
        add_audit(conn, NOW - 29 * DAY, 2, "/recent")
        add_delivery(conn, "old", NOW - 31 * DAY)
        add_delivery(conn, "recent", NOW - 29 * DAY)
    worker.runtime.purge(conn)
    assert [r["path"] for r in audit.query(conn)] == ["/recent", "/recent"]
    assert not webhooks.record_delivery(conn, "github", "recent")  # still a replay
    assert webhooks.record_delivery(conn, "github", "old")  # forgotten after 30 days


def test_the_heartbeat_runs_the_runtime_purges(make_database: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow_studio.engine import executor as executor_module

    monkeypatch.setattr(executor_module, "PURGE_INTERVAL", 0.05)
    runtime = Runtime(make_database(), clock=FakeClock(NOW))
    called = threading.Event()
    seen: list[int] = []
    runtime.add_purge(lambda conn, now: (seen.append(now), called.set()))
    runtime.add_purge(lambda conn, now: 1 / 0)  # one that fails does not stop the rest
    executor = Executor(runtime, lambda deployment_id: None, slots=1)
    runtime.install(executor)
    executor.start()
    try:
        assert called.wait(10), "the heartbeat never ran the purge"
        called.clear()
        assert called.wait(10), "the heartbeat ran the purge only once"
    finally:
        runtime.stop(5)
    assert seen[0] == NOW

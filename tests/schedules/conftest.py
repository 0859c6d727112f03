"""Fixtures for schedule tests: a database on the test's backend with an activated
deployment, a runtime on a clock the test moves, and helpers to make and read schedules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from workflow_studio.compute.ids import new_id
from workflow_studio.engine.runtime import Runtime
from workflow_studio.engine.schedules import Scheduler, service
from workflow_studio.engine.schedules.spec import to_ms
from workflow_studio.storage import Connection, Database
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import schedules as repo
from workflow_studio.storage.world import runs

WORKFLOWS = ["report", "slow"]


def ms(*parts: int) -> int:
    """Milliseconds of a UTC datetime given as (year, month, day, hour, minute, second)."""
    return to_ms(datetime(*parts, tzinfo=UTC))  # type: ignore[misc]


class FakeClock:
    """The runtime's clock, moved by the test."""

    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now

    def advance(self, seconds: float) -> int:
        self.now += int(seconds * 1000)
        return self.now


@pytest.fixture
def db(make_database: Callable[..., Database]) -> Database:
    return make_database()


@pytest.fixture
def conn(db: Database) -> Connection:
    return db.connection()


@pytest.fixture
def deployment(conn: Connection) -> str:
    deployment_id = new_id("dpl")
    deployments_repo.create(conn, deployment_id=deployment_id, manifest={},
                            artifact_sha256="0" * 64, artifact_size=0, workflows=WORKFLOWS,
                            steps=[], created_by_key_id=None)
    deployments_repo.activate(conn, deployment_id, None)
    return deployment_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ms(2024, 6, 1, 12, 0, 0))


@pytest.fixture
def runtime(db: Database, clock: FakeClock, deployment: str) -> Runtime:
    return Runtime(db, clock=clock)


@pytest.fixture
def scheduler(runtime: Runtime) -> Scheduler:
    return Scheduler(runtime)


@pytest.fixture
def make_schedule(conn: Connection, clock: FakeClock) -> Callable[..., dict[str, Any]]:
    def make(**fields: Any) -> dict[str, Any]:
        fields.setdefault("name", f"s-{new_id('sch')[-6:].lower()}")
        fields.setdefault("workflowName", "report")
        return service.create(conn, fields, created_by=None, now=clock.now)
    return make


def ticks(conn: Connection, schedule_id: str) -> list[tuple[int, str]]:
    """(tick, outcome) of every ledger row, oldest first."""
    rows = conn.query("SELECT scheduled_at, outcome FROM schedule_ticks WHERE schedule_id = ?"
                      " ORDER BY scheduled_at", (schedule_id,))
    return [(r["scheduled_at"], r["outcome"]) for r in rows]


def schedule_runs(conn: Connection, schedule_id: str) -> list[dict[str, Any]]:
    rows, _ = runs.list_runs(conn, schedule_id=schedule_id, limit=1000)
    return sorted(rows, key=lambda r: (r["scheduled_at"] or 0, r["id"]))


def finish(conn: Connection, run_id: str) -> None:
    """End a run as the executor would (completed)."""
    with conn.transaction():
        runs.complete(conn, run_id, "null")


__all__ = ["FakeClock", "finish", "ms", "repo", "schedule_runs", "ticks"]

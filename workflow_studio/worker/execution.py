"""Wiring the engine into a gunicorn worker process and its master.

``start_for_app`` runs in ``post_worker_init`` (after the fork, so every connection belongs
to the process that uses it): it builds the executor whose code source is the run's pinned
deployment, loaded from the artifact directory (fetched from PostgreSQL and verified when
this node never received it), and starts the process's schedule firing loop.
``release_dead_worker`` runs in the master's ``child_exit``: it releases a dead worker's
claims at once so another process resumes its runs without waiting for the lease to expire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask

from workflow_studio.config.settings import Settings
from workflow_studio.engine import wakeups
from workflow_studio.engine.executor import Executor
from workflow_studio.engine.schedules import Scheduler
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import open_database
from workflow_studio.storage.world import queue
from workflow_studio.worker.context import EXTENSION, WorkerState
from workflow_studio.worker.routes.schedules import SCHEDULER

log = logging.getLogger("workflow_studio.engine")


def start_for_app(app: Flask, node: str | None = None) -> Executor:
    """Start this process's executor for the worker app (idempotent); its claims are owned
    by (``node``, pid)."""
    worker: WorkerState = app.extensions[EXTENSION]
    runtime = worker.runtime
    if runtime.executor is not None:
        return runtime.executor
    settings, db, loader = worker.settings, worker.db, worker.loader
    timeouts: dict[str, float | None] = {}  # a deployment's step timeout never changes

    def step_timeout(deployment_id: str) -> float | None:
        if deployment_id not in timeouts:
            row = deployments_repo.get(db.connection(), deployment_id)
            if row is None:
                return None
            timeouts[deployment_id] = row.get("step_timeout")
        return timeouts[deployment_id]

    executor = Executor(runtime, lambda deployment_id: loader.load(deployment_id).registry,
                        slots=settings.executor_slots, lease_seconds=settings.lease_seconds,
                        step_timeout=step_timeout, name="executor", node=node)
    runtime.install(executor)
    executor.start()
    # Every process fires schedules too; the tick's unique key keeps that to one run each.
    app.extensions[SCHEDULER] = Scheduler(
        runtime, history_days=settings.retention_schedule_ticks_days).start()
    return executor


def stop_for_app(app: Flask, timeout: float) -> None:
    scheduler = app.extensions.pop(SCHEDULER, None)
    if scheduler is not None:
        scheduler.stop(min(timeout, 5.0))
    app.extensions[EXTENSION].runtime.stop(timeout)


def release_dead_worker(settings: Settings, node: str, pid: int,
                        environ: Mapping[str, str] | None = None) -> int:
    """Release the claims of worker process ``pid`` of ``node`` (this master's processes);
    returns how many."""
    # Its workers migrated it: no round trips. ``environ`` has what the master took out of
    # os.environ (PGPASSWORD).
    db = open_database(settings, migrate=False, environ=environ)
    try:
        conn = db.connection()
        with conn.transaction():
            released = queue.release_owner(conn, node, pid)
    finally:
        db.close()
    if released:
        log.warning("released %d claim(s) of dead worker process %d", released, pid)
        if db.dialect == "sqlite":
            wakeups.ring_all(wakeups.channel_dir(db.target))
    return released

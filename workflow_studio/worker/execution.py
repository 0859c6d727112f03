"""Wiring the engine into a gunicorn worker process and its master.

``start_for_app`` runs in ``post_worker_init`` (after the fork, so every connection belongs
to the process that uses it): it builds the executor whose code source is the run's pinned
deployment, loaded from the artifact directory (fetched from PostgreSQL and verified when
this node never received it). ``release_dead_worker`` runs in the master's
``child_exit``: it releases a dead worker's claims at once so another process resumes its
runs without waiting for the lease to expire.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from workflow_studio.authoring.registry import Registry
from workflow_studio.config.settings import Settings
from workflow_studio.engine import service, wakeups
from workflow_studio.engine.executor import Executor
from workflow_studio.storage import open_database
from workflow_studio.storage.world import queue

log = logging.getLogger("workflow_studio.engine")


def start_for_app(app: Any) -> Executor:
    """Start this process's executor for the worker app (idempotent)."""
    existing = service.current_executor()
    if existing is not None:
        return existing
    state = app.extensions["workflow_studio"]
    settings: Settings = state.settings
    db = state.db

    from workflow_studio.worker.deployments.fetch import database_fetcher
    fetch = database_fetcher(db, settings)  # a node that never saw the upload fetches it

    registries: dict[str, Registry] = {}  # per run resumed: skip resolving paths again

    def resolve_registry(deployment_id: str) -> Registry:
        registry = registries.get(deployment_id)
        if registry is None:
            from workflow_studio.worker.deployments.loader import load_deployment
            registry = load_deployment(settings.artifact_path, deployment_id, fetch).registry
            registries[deployment_id] = registry
        return registry

    timeouts: dict[str, float | None] = {}  # a deployment's step timeout never changes

    def step_timeout(deployment_id: str) -> float | None:
        if deployment_id not in timeouts:
            from workflow_studio.storage import deployments as deployments_repo
            row = deployments_repo.get(db.connection(), deployment_id)
            if row is None:
                return None
            timeouts[deployment_id] = row.get("step_timeout")
        return timeouts[deployment_id]

    executor = Executor(db, resolve_registry, slots=settings.executor_slots,
                        lease_seconds=settings.lease_seconds, step_timeout=step_timeout,
                        name="executor")
    service.install_executor(executor)
    executor.start()
    return executor


def stop_current(timeout: float) -> None:
    executor = service.current_executor()
    if executor is not None:
        executor.stop(timeout)
        service.install_executor(None)


def release_dead_worker(settings: Settings, pid: int) -> int:
    """Release the claims of worker process ``pid`` (on this host); returns how many."""
    db = open_database(settings, migrate=False)  # its workers migrated it: no round trips
    try:
        conn = db.connection()
        with conn.transaction():
            released = queue.release_owner(conn, socket.gethostname(), pid)
    finally:
        db.close()
    if released:
        log.warning("released %d claim(s) of dead worker process %d", released, pid)
        if db.dialect == "sqlite":
            wakeups.ring_all(wakeups.channel_dir(db.target))
    return released

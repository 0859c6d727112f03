"""The embedded local world: the engine's SQLite world in a file under ``./.workflow-studio/``
and an in-process executor thread pool, so ``start()`` works with no server at all.

It runs the very same engine as the worker (replay, queue, claims, leases); only the code
source differs: functions registered in this process instead of a deployment artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from workflow_studio.authoring.registry import Registry, seen
from workflow_studio.compute import payloads
from workflow_studio.compute.world import TERMINAL_STATUSES

LOCAL_DEPLOYMENT = "local"
DEFAULT_PATH = ".workflow-studio/local.db"
IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000


class LocalWorld:
    """A ``World`` over a local SQLite file with its own executor."""

    def __init__(self, path: str | Path | None = None, slots: int = 4,
                 registry: Registry | None = None, lease_seconds: float = 30.0,
                 database: Any = None) -> None:
        """``database`` (a ``storage.Database``) replaces the SQLite file, e.g. so the
        engine's tests run the same flows on PostgreSQL."""
        from workflow_studio.engine.executor import Executor
        from workflow_studio.storage import Database

        self.path = str(Path(path or os.environ.get("WORKFLOW_LOCAL_DB", DEFAULT_PATH))
                        .resolve())
        self.db = database if database is not None else Database(self.path)
        self._registry = registry
        self.executor = Executor(self.db, self._resolve, slots=slots, name="local",
                                 lease_seconds=lease_seconds)
        self._started = False
        self._lock = threading.Lock()

    def _resolve(self, _deployment_id: str) -> Registry:
        return self._registry or seen()

    def _conn(self) -> Any:
        conn = self.db.connection()
        if not self._started:
            with self._lock:
                if not self._started:
                    self.executor.start()
                    self._started = True
        return conn

    def close(self, timeout: float = 5.0) -> None:
        if self._started:
            self.executor.stop(timeout)
            self._started = False
        self.db.close()

    # -- World ------------------------------------------------------------------------
    def start_run(self, workflow_name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  idempotency_key: str | None = None) -> dict[str, Any]:
        from workflow_studio.engine import service
        from workflow_studio.storage import idempotency

        conn = self._conn()
        if workflow_name not in self._resolve(LOCAL_DEPLOYMENT).workflows:
            raise LookupError(f"unknown workflow {workflow_name!r}: import the module that "
                              "defines it before calling start()")
        body = {"workflowName": workflow_name,
                "args": payloads.to_jsonable(tuple(args), "args"),
                "kwargs": payloads.to_jsonable(dict(kwargs), "kwargs")}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with conn.transaction():
            if idempotency_key:
                existing = idempotency.get(conn, "local", idempotency_key)
                if existing is not None:
                    if existing["request_hash"] != digest:
                        raise ValueError(f"idempotency key {idempotency_key!r} was used with "
                                         "different arguments")
                    run = self.get_run(existing["run_id"])
                    assert run is not None
                    return run
            row = service.trigger(conn, workflow_name, args, kwargs,
                                  deployment_id=LOCAL_DEPLOYMENT, trigger_type="local")
            if idempotency_key:
                idempotency.record(conn, "local", idempotency_key, digest, 202, {},
                                   row["id"], IDEMPOTENCY_RETENTION_MS)
        self.executor.wake()
        return service.run_json(row)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        from workflow_studio.engine import service
        from workflow_studio.storage.world import runs

        row = runs.get(self._conn(), run_id)
        return service.run_json(row) if row else None

    def wait_run(self, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run is None:
                raise LookupError(f"no run {run_id!r}")
            left = deadline - time.monotonic()
            if run["status"] in TERMINAL_STATUSES or left <= 0:
                return run
            self.executor.wait_for_change(min(left, 0.05))

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        from workflow_studio.engine import service

        return service.run_json(service.cancel(self._conn(), run_id))

    def list_events(self, run_id: str) -> list[dict[str, Any]]:
        from workflow_studio.engine import service
        from workflow_studio.storage.world import events

        return [service.event_json(e) for e in events.list_for_run(self._conn(), run_id,
                                                                     limit=100_000)]

    def list_steps(self, run_id: str) -> list[dict[str, Any]]:
        from workflow_studio.engine import service
        from workflow_studio.storage.world import steps

        return [service.step_json(s) for s in steps.for_run(self._conn(), run_id)]

    def read_stream(self, run_id: str, name: str, after: int = 0) -> list[dict[str, Any]]:
        from workflow_studio.engine import service
        from workflow_studio.storage.world import streams

        return [service.chunk_json(c) for c in streams.read(self._conn(), run_id, name, after)]

    def resume_hook(self, token: str, payload: Any) -> dict[str, Any]:
        from workflow_studio.engine import service

        hook = service.resume_hook(self._conn(), token, payload)
        self.executor.wake()
        return {"hookId": hook["id"], "runId": hook["run_id"], "token": token}

"""The embedded local world: the engine's SQLite world in a file under ``./.workflow-studio/``
and an in-process executor thread pool, so ``start()`` works with no server at all.

It runs the very same engine as the worker (replay, queue, claims, leases); only the code
source differs: functions registered in this process instead of a deployment artifact.

Its settings (file, slots, lease, payload cap) come from the constructor, else from the
``WORKFLOW_LOCAL_*`` variables (``config.local_world``), which is how ``get_world()`` builds it.

Who executes: the executor starts when this process starts a run, resumes a hook, or calls
``start_executor()``; reading (``get_run``, ``wait_run``, events, steps, streams) never
starts it, so a process that only observes never executes (or fails) anybody's run. The
executor claims only runs of workflows this process has registered (``runnable``), leaving
the others to a process that imported them; a run nobody takes reads as waiting for an
executor (``engine.readiness``). At interpreter exit (``atexit``) it stops and releases what
it holds, so the next process resumes at once; a process killed outright has its claims
released by the next process of this machine that starts an executor (``engine.owners``).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from workflow_studio.authoring.registry import Registry, seen
from workflow_studio.compute.world import TERMINAL_STATUSES
from workflow_studio.config.local_world import LocalWorldSettings, local_world_settings
from workflow_studio.engine import readiness, render, service
from workflow_studio.engine import runs as starts
from workflow_studio.engine.executor import Executor
from workflow_studio.engine.runtime import Runtime
from workflow_studio.sdk.errors import HookAlreadyResolvedError, HookNotFoundError
from workflow_studio.storage import Connection, Database, Row
from workflow_studio.storage.world import WorldConflict, events, runs, steps, streams

DEFAULT_PATH = LocalWorldSettings.db_path
IDEMPOTENCY_SCOPE = "local"


class LocalWorld:
    """A ``World`` over a local SQLite file with its own runtime and executor."""

    def __init__(self, path: str | Path | None = None, slots: int | None = None,
                 registry: Registry | None = None, lease_seconds: float | None = None,
                 database: Database | None = None,
                 max_payload_bytes: int | None = None) -> None:
        """Each setting left None comes from its ``WORKFLOW_LOCAL_*`` variable, else its
        default (``ConfigError`` naming the variable for a bad value). ``database`` (a
        ``storage.Database``) replaces the SQLite file, e.g. so the engine's tests run the
        same flows on PostgreSQL."""
        given = local_world_settings()
        self.settings = LocalWorldSettings(
            db_path=str(path) if path is not None else given.db_path,
            slots=given.slots if slots is None else slots,
            lease_seconds=given.lease_seconds if lease_seconds is None else lease_seconds,
            max_payload_bytes=given.max_payload_bytes if max_payload_bytes is None
            else max_payload_bytes)
        self.path = str(self.settings.db_file)
        self.db = database if database is not None else Database(self.path)
        self._registry = registry
        slots = self.settings.slots
        self.runtime = Runtime(self.db, threads=slots + 1,
                               max_payload_bytes=self.settings.max_payload_bytes)
        self.executor = Executor(self.runtime, self._resolve, slots=slots, name="local",
                                 lease_seconds=self.settings.lease_seconds,
                                 runnable=self._runnable)
        self._started = False
        self._lock = threading.Lock()

    def _resolve(self, _deployment_id: str) -> Registry:
        return self._registry or seen()

    def _runnable(self) -> Collection[str]:
        """The workflows this process can execute (asked at each claim: imports add some)."""
        return tuple(self._resolve(starts.LOCAL_DEPLOYMENT).workflows)

    def _conn(self) -> Connection:
        return self.db.connection()

    def start_executor(self) -> None:
        """Execute runs in this process from now on (idempotent): those of the workflows it
        has registered, including runs other processes started or left behind."""
        if self._started:
            return
        with self._lock:
            if not self._started:
                self.runtime.install(self.executor)
                self.executor.start()
                atexit.register(self._at_exit)
                self._started = True

    def _at_exit(self) -> None:
        """Interpreter exit: stop claiming and release every claim at once (a step still
        running is abandoned: its writes are fenced, and the next executor runs it again)."""
        if self._started and os.getpid() == self.executor.pid:  # not in a forked child
            self._started = False
            self.runtime.stop(0.0)

    def close(self, timeout: float = 5.0) -> None:
        if self._started:
            atexit.unregister(self._at_exit)
            self.runtime.stop(timeout)
            self._started = False
        self.db.close()

    def _as_read(self, conn: Connection, row: Row) -> dict[str, Any]:
        return render.run_json(readiness.as_read(conn, row, self.executor.node))

    # -- World ------------------------------------------------------------------------
    def start_run(self, workflow_name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  idempotency_key: str | None = None) -> dict[str, Any]:
        conn = self._conn()
        self.start_executor()
        registered = self._resolve(starts.LOCAL_DEPLOYMENT).workflows
        if workflow_name not in registered:
            raise LookupError(f"unknown workflow {workflow_name!r}: import the module that "
                              "defines it before calling start()")
        request = starts.StartRequest.of_values(
            workflow_name, args, kwargs, trigger_type="local",
            deployment=starts.Target(starts.LOCAL_DEPLOYMENT, registered),
            idempotency=starts.Idempotency(IDEMPOTENCY_SCOPE, idempotency_key)
            if idempotency_key else None)
        try:
            started = self.runtime.start(conn, request)
        except starts.StartRefused as exc:
            raise ValueError(exc.message) from None
        if started.replayed is not None and not started.run:
            raise LookupError(f"idempotency key {idempotency_key!r} names a run that no "
                              "longer exists")
        return render.run_json(started.run)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        conn = self._conn()
        row = runs.get(conn, run_id)
        return self._as_read(conn, row) if row else None

    def wait_run(self, run_id: str, timeout: float) -> dict[str, Any]:
        conn = self._conn()
        deadline = time.monotonic() + timeout
        while True:
            row = runs.get(conn, run_id)
            if row is None:
                raise LookupError(f"no run {run_id!r}")
            left = deadline - time.monotonic()
            if row["status"] in TERMINAL_STATUSES or left <= 0:
                return self._as_read(conn, row)
            self.executor.wait_for_change(min(left, 0.05))

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        row = render.run_json(service.cancel(self._conn(), run_id))
        self.runtime.run_changed(run_id)
        return row

    def list_events(self, run_id: str) -> list[dict[str, Any]]:
        return [render.event_json(e) for e in events.list_for_run(self._conn(), run_id,
                                                                    limit=100_000)]

    def list_steps(self, run_id: str) -> list[dict[str, Any]]:
        return [render.step_json(s) for s in steps.for_run(self._conn(), run_id)]

    def read_stream(self, run_id: str, name: str, after: int = 0) -> list[dict[str, Any]]:
        return [render.chunk_json(c) for c in streams.read(self._conn(), run_id, name, after)]

    def list_runs(self, *, status: str | None = None, workflow: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        """Runs newest first, as ``GET /v1/runs`` shows them (no input or output)."""
        conn = self._conn()
        rows, _ = runs.list_runs(conn, status=status, workflow=workflow, limit=limit)
        return [render.run_json(readiness.as_read(conn, row, self.executor.node),
                                include_io=False) for row in rows]

    def resume_hook(self, token: str, payload: Any) -> dict[str, Any]:
        """``HookNotFoundError`` / ``HookAlreadyResolvedError``, like the remote world."""
        self.start_executor()
        try:
            hook = service.resume_hook(self._conn(), token, payload,
                                       self.settings.max_payload_bytes)
        except service.HookNotFound:
            raise HookNotFoundError(token) from None
        except WorldConflict:  # the one conflict of a resume: the hook was received
            raise HookAlreadyResolvedError(token) from None
        self.runtime.wake()
        return {"hookId": hook["id"], "runId": hook["run_id"], "token": token}

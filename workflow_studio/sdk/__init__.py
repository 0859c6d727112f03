"""The app side: ``start()``, ``Run``, ``get_run()``, ``resume_hook()`` and world selection.

``WORKFLOW_TARGET_WORLD`` unset or ``local`` selects the embedded local world; the remote
world (``workflow-studio/world-remote``) plugs in behind the same ``World`` interface.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.compute.world import TERMINAL_STATUSES, World

REMOTE_WORLD = "workflow-studio/world-remote"
_lock = threading.Lock()
_world: World | None = None


class RunFailedError(Exception):
    """``Run.result()`` of a run that failed; ``.error`` is the recorded error."""

    def __init__(self, run_id: str, error: dict[str, Any] | None) -> None:
        error = error or {}
        super().__init__(f"run {run_id} failed: {error.get('code', 'error')}: "
                         f"{error.get('message', '')}")
        self.run_id, self.error = run_id, error
        self.code = error.get("code")


class RunCancelledError(Exception):
    """``Run.result()`` of a cancelled run."""


class RunNotFinishedError(TimeoutError):
    """``Run.result(timeout=...)`` ran out of time."""


def get_world() -> World:
    """The world ``WORKFLOW_TARGET_WORLD`` selects (created once per process)."""
    global _world
    with _lock:
        if _world is None:
            target = os.environ.get("WORKFLOW_TARGET_WORLD", "") or "local"
            if target == "local":
                from workflow_studio.sdk.local_world import LocalWorld
                _world = LocalWorld()
            elif target == REMOTE_WORLD:
                from workflow_studio.client.world import RemoteWorld
                _world = RemoteWorld.from_env()
            else:
                raise ValueError(f"WORKFLOW_TARGET_WORLD={target!r} is not supported; use "
                                 f"'local' or {REMOTE_WORLD!r}")
        return _world


def set_world(world: World | None) -> World | None:
    """Replace the process's world (tests, embedding); returns the previous one."""
    global _world
    with _lock:
        previous, _world = _world, world
    return previous


class Run:
    """A handle on one run."""

    def __init__(self, run_id: str, world: World | None = None,
                 snapshot: dict[str, Any] | None = None) -> None:
        self.id = run_id
        self._world = world or get_world()
        self._snapshot = snapshot

    def info(self) -> dict[str, Any]:
        run = self._world.get_run(self.id)
        if run is None:
            raise LookupError(f"no run {self.id!r}")
        self._snapshot = run
        return run

    def status(self) -> str:
        return str(self.info()["status"])

    def wait(self, timeout: float = 60.0) -> str:
        """Block until the run is terminal (or ``timeout``); returns its status."""
        self._snapshot = self._world.wait_run(self.id, timeout)
        return str(self._snapshot["status"])

    def result(self, timeout: float = 60.0) -> Any:
        """The workflow's return value; raises ``RunFailedError``/``RunCancelledError``."""
        status = self.wait(timeout)
        run = self._snapshot or {}
        if status == "completed":
            return payloads.from_jsonable(run.get("output"))
        if status == "failed":
            raise RunFailedError(self.id, run.get("error"))
        if status == "cancelled":
            raise RunCancelledError(f"run {self.id} was cancelled")
        raise RunNotFinishedError(f"run {self.id} is still {status} after {timeout}s")

    def cancel(self) -> None:
        self._world.cancel_run(self.id)

    def events(self) -> list[dict[str, Any]]:
        return self._world.list_events(self.id)

    def steps(self) -> list[dict[str, Any]]:
        return self._world.list_steps(self.id)

    def stream(self, name: str = "default", timeout: float = 60.0) -> Iterator[Any]:
        """Chunks of stream ``name`` as they are written, until closed or the run ends."""
        after, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunks = self._world.read_stream(self.id, name, after)
            for chunk in chunks:
                after = chunk["position"]
                if chunk["done"]:
                    return
                yield payloads.from_jsonable(chunk["data"])
            if not chunks:
                run = self._world.get_run(self.id)
                if run is None or run["status"] in TERMINAL_STATUSES:
                    if not self._world.read_stream(self.id, name, after):
                        return
                    continue
                time.sleep(0.01)

    def __repr__(self) -> str:
        return f"Run({self.id!r})"


def _workflow_name(workflow_or_name: Any) -> str:
    if isinstance(workflow_or_name, str):
        return workflow_or_name
    definition = getattr(workflow_or_name, "__workflow__", None)
    if definition is None:
        raise TypeError(f"start() takes a @workflow function or its name, not "
                        f"{workflow_or_name!r}")
    return str(definition.name)


def start(workflow_or_name: Any, *args: Any, idempotency_key: str | None = None,
          **kwargs: Any) -> Run:
    """Start a run of a workflow; returns its ``Run`` handle at once."""
    world = get_world()
    run = world.start_run(_workflow_name(workflow_or_name), args, kwargs, idempotency_key)
    return Run(run["id"], world, run)


def get_run(run_id: str) -> Run:
    return Run(run_id, get_world())


def resume_hook(token: str, payload: Any = None) -> dict[str, Any]:
    """Deliver ``payload`` to the hook waiting on ``token``."""
    return get_world().resume_hook(token, payload)

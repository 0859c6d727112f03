"""``Run[R]``, the handle ``start()`` returns, the errors its ``result()`` raises, and
``resume_hook()``.

A ``Run`` is a run id plus the world it lives in; every method asks the world afresh. ``R``
is the workflow's return type, so ``start(checkout, 42).result()`` is typed like
``checkout(42)``; a run looked up by id (``get_run``) is a ``Run[Any]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Generic, TypeVar, cast

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import RunErrorCode
from workflow_studio.compute.runs import RunStatus
from workflow_studio.compute.world import TERMINAL_STATUSES, World
from workflow_studio.sdk import errors
from workflow_studio.sdk.worlds import get_world

R_co = TypeVar("R_co", covariant=True)


def run_error_code(error: dict[str, Any] | None) -> RunErrorCode | str | None:
    """A recorded error's code: the ``RunErrorCode`` member when it is one (it compares
    equal to its string), else the string as recorded (a newer engine's code)."""
    code = (error or {}).get("code")
    if code is None:
        return None
    try:
        return RunErrorCode(code)
    except ValueError:
        return str(code)


class RunFailedError(Exception):
    """``Run.result()`` of a run that failed; ``.error`` is the recorded error and ``.code``
    its ``RunErrorCode`` (``step_failed``, ``workflow_error``, ...)."""

    def __init__(self, run_id: str, error: dict[str, Any] | None) -> None:
        error = error or {}
        super().__init__(f"run {run_id} failed: {error.get('code', 'error')}: "
                         f"{error.get('message', '')}")
        self.run_id, self.error = run_id, error
        self.code: RunErrorCode | str | None = run_error_code(error)


class RunCancelledError(Exception):
    """``Run.result()`` of a cancelled run."""


class RunNotFinishedError(TimeoutError):
    """``Run.result(timeout=...)`` ran out of time."""


class Run(Generic[R_co]):
    """A handle on one run; ``result()`` returns what the workflow returned (an ``R``)."""

    def __init__(self, run_id: str, world: World | None = None,
                 snapshot: dict[str, Any] | None = None) -> None:
        self.id = run_id
        self._world = world or get_world()
        self._snapshot = snapshot

    def info(self) -> dict[str, Any]:
        """The run as the world reports it now (the API's run JSON)."""
        run = self._world.get_run(self.id)
        if run is None:
            raise LookupError(f"no run {self.id!r}")
        self._snapshot = run
        return run

    def status(self) -> RunStatus:
        return cast(RunStatus, str(self.info()["status"]))

    def wait(self, timeout: float = 60.0) -> RunStatus:
        """Block until the run is terminal (or ``timeout``); returns its status."""
        self._snapshot = self._world.wait_run(self.id, timeout)
        return cast(RunStatus, str(self._snapshot["status"]))

    def result(self, timeout: float = 60.0) -> R_co:
        """The workflow's return value; raises ``RunFailedError``/``RunCancelledError``, or
        ``RunNotFinishedError`` when the run is still going after ``timeout`` seconds."""
        status = self.wait(timeout)
        run = self._snapshot or {}
        if status == "completed":
            return cast(R_co, payloads.from_jsonable(run.get("output")))
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


def get_run(run_id: str) -> Run[Any]:
    """A handle on an existing run (its result type is unknown here: ``Run[Any]``)."""
    return Run(run_id, get_world())


def resume_hook(token: str, payload: Any = None) -> dict[str, Any]:
    """Deliver ``payload`` to the hook waiting on ``token``. ``HookNotFoundError`` when no
    live hook has it, ``HookAlreadyResolvedError`` when it already has its payload: the
    same classes on every world."""
    try:
        return get_world().resume_hook(token, payload)
    except (errors.HookNotFoundError, errors.HookAlreadyResolvedError):
        raise
    except Exception as exc:
        public = errors.from_remote(exc, token)
        if public is None:
            raise
        raise public from exc

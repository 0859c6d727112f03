"""The seam between authoring code and the engine that runs it.

The engine installs a ``WorkflowRuntime`` (while it replays a workflow) or a ``StepRuntime``
(while a step runs) in a thread-local; the SDK functions look it up. This keeps the authoring
package free of any worker or storage import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from workflow_studio.authoring.errors import NotInWorkflowError

if TYPE_CHECKING:
    from workflow_studio.authoring.api import Hook

T = TypeVar("T")


class WorkflowRuntime(Protocol):
    run_id: str

    def call_step(self, definition: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any: ...
    def call_parallel(self, calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]
                      ) -> list[Any]: ...
    def sleep(self, duration: Any) -> None: ...
    def create_hook(self, token: str | None, metadata: Any) -> Hook: ...
    def record_value(self, kind: str, produce: Callable[[], T]) -> T: ...
    def webhook_url(self, token: str) -> str | None:
        """The signed public URL of a hook token (None where no worker serves hooks:
        the local world)."""


class StepRuntime(Protocol):
    run_id: str
    step_id: str
    attempt: int

    def write_stream(self, name: str, data: Any, close: bool) -> None: ...


_local = threading.local()


def workflow_runtime() -> WorkflowRuntime | None:
    return getattr(_local, "workflow", None)


def step_runtime() -> StepRuntime | None:
    return getattr(_local, "step", None)


def in_workflow_code() -> bool:
    """Whether the calling code is workflow code being replayed (not a step it runs)."""
    return getattr(_local, "workflow", None) is not None and getattr(_local, "step", None) is None


def enter_workflow_function() -> bool:
    """Called by every ``@workflow`` function as it starts, in workflow code: True for the
    run's own function (the first entry under ``running_workflow``), False for another
    workflow function that workflow code calls directly."""
    if getattr(_local, "entered", False):
        return False
    _local.entered = True
    return True


def require_workflow(what: str) -> WorkflowRuntime:
    runtime = workflow_runtime()
    if runtime is None or step_runtime() is not None:
        raise NotInWorkflowError(
            f"{what} can only be used inside a @workflow function while it runs "
            "(start the workflow with workflow_studio.start(...))")
    return runtime


@contextmanager
def running_workflow(runtime: WorkflowRuntime) -> Iterator[None]:
    previous = getattr(_local, "workflow", None), getattr(_local, "entered", False)
    _local.workflow, _local.entered = runtime, False
    try:
        yield
    finally:
        _local.workflow, _local.entered = previous


@contextmanager
def running_step(runtime: StepRuntime) -> Iterator[None]:
    previous = getattr(_local, "step", None)
    _local.step = runtime
    try:
        yield
    finally:
        _local.step = previous

"""``@workflow`` and ``@step``: usable bare or with arguments; they register by name.

Registration is all the build and the deployment loader need. A decorated step becomes a
``StepFunction``: called inside a running workflow it is checkpointed by the engine (through
the thread-local runtime of ``authoring.context``); called inside another step it runs
plainly; called anywhere else it raises ``NotInWorkflowError``. ``StepDef.fn`` stays the
undecorated function, which is what the engine executes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from workflow_studio.authoring.api import StepCall
from workflow_studio.authoring.context import step_runtime, workflow_runtime
from workflow_studio.authoring.errors import NotInWorkflowError
from workflow_studio.authoring.registry import (
    DEFAULT_MAX_RETRIES,
    StepDef,
    WorkflowDef,
    current,
)

F = TypeVar("F", bound=Callable[..., Any])


@overload
def workflow(fn: F) -> F: ...
@overload
def workflow(*, name: str | None = None) -> Callable[[F], F]: ...


def workflow(fn: Any = None, *, name: str | None = None) -> Any:
    """Register a workflow function (``name`` defaults to the function's name)."""
    def register(func: F) -> F:
        definition = WorkflowDef(name=name or func.__name__, fn=func, module=func.__module__)
        current().add_workflow(definition)
        func.__workflow__ = definition  # type: ignore[attr-defined]
        return func
    return register(fn) if fn is not None else register


@overload
def step(fn: F) -> F: ...
@overload
def step(*, name: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
         retry_delay: float = 1.0, backoff: float = 2.0,
         timeout: float | None = None) -> Callable[[F], F]: ...


def step(fn: Any = None, *, name: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
         retry_delay: float = 1.0, backoff: float = 2.0, timeout: float | None = None) -> Any:
    """Register a step function with its retry policy."""
    def register(func: F) -> F:
        definition = StepDef(name=name or func.__name__, fn=func, module=func.__module__,
                             max_retries=max_retries, retry_delay=retry_delay,
                             backoff=backoff, timeout=timeout)
        current().add_step(definition)
        return StepFunction(definition)  # type: ignore[return-value]
    return register(fn) if fn is not None else register


class StepFunction:
    """What ``@step`` returns: call it in a workflow; ``.defer``/``.map`` for fan-out."""

    def __init__(self, definition: StepDef) -> None:
        self.__step__ = definition
        self.fn = definition.fn
        functools.update_wrapper(self, definition.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if step_runtime() is not None:
            return self.fn(*args, **kwargs)  # a step calling a step: plain call
        runtime = workflow_runtime()
        if runtime is None:
            name = self.__step__.name
            raise NotInWorkflowError(
                f"step {name!r} was called outside a workflow: call it from a @workflow "
                f"function started with workflow_studio.start(...), or call {name}.fn(...) "
                "to run the plain function")
        return runtime.call_step(self.__step__, args, kwargs)

    def defer(self, *args: Any, **kwargs: Any) -> StepCall:
        """This call, for ``parallel(...)``."""
        return StepCall(self.__step__, args, kwargs)

    def map(self, items: Iterable[Any]) -> list[Any]:
        """Call the step once per item, all at once on other slots; results in order."""
        from workflow_studio.authoring.api import parallel
        return parallel(*[self.defer(item) for item in items])

    def __repr__(self) -> str:
        return f"<step {self.__step__.name}>"

"""``@workflow`` and ``@step``: usable bare or with arguments; they register by name.

The engine gives the decorated functions their durable behaviour; registration is all the
build and the deployment loader need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

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
        func.__step__ = definition  # type: ignore[attr-defined]
        return func
    return register(fn) if fn is not None else register

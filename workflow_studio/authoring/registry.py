"""Where ``@workflow`` and ``@step`` register functions by name.

Registration happens at import time into the *current* registry. The build and the deployment
loader swap a fresh registry in (``capture()``) while importing a project's modules, so each
deployment's registrations are collected separately and never mix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

DEFAULT_MAX_RETRIES = 3
Isolation = Literal["thread", "process"]  # where a step's attempts run (``@step(isolation=)``)
ISOLATIONS: tuple[Isolation, ...] = ("thread", "process")


class RegistrationError(Exception):
    """Two workflows (or two steps) share a name within one project."""


@dataclasses.dataclass
class WorkflowDef:
    name: str
    fn: Callable[..., Any]
    module: str


@dataclasses.dataclass
class StepDef:
    name: str
    fn: Callable[..., Any]
    module: str
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = 1.0
    backoff: float = 2.0
    timeout: float | None = None
    isolation: Isolation = "thread"
    check_args: bool = True  # replay compares a recorded call's arguments (``@step``)


_Definition = TypeVar("_Definition", WorkflowDef, StepDef)


@dataclasses.dataclass
class Registry:
    workflows: dict[str, WorkflowDef] = dataclasses.field(default_factory=dict)
    steps: dict[str, StepDef] = dataclasses.field(default_factory=dict)

    def add_workflow(self, definition: WorkflowDef) -> None:
        self._add(self.workflows, "workflow", definition)
        if self is not _seen:
            _seen.workflows[definition.name] = definition

    def add_step(self, definition: StepDef) -> None:
        self._add(self.steps, "step", definition)
        if self is not _seen:
            _seen.steps[definition.name] = definition

    @staticmethod
    def _add(table: dict[str, _Definition], kind: str, definition: _Definition) -> None:
        existing = table.get(definition.name)
        if existing is not None and existing.fn is not definition.fn and (
            existing.module, existing.fn.__qualname__
        ) != (definition.module, definition.fn.__qualname__):
            raise RegistrationError(
                f"duplicate {kind} name {definition.name!r}: "
                f"{existing.module}.{existing.fn.__qualname__} and "
                f"{definition.module}.{definition.fn.__qualname__}"
            )
        table[definition.name] = definition


_lock = threading.RLock()
_current = Registry()
_seen = Registry()  # every definition this process has registered, for the local world


def seen() -> Registry:
    """Everything registered in this process so far, captured or not (last name wins)."""
    return _seen


def current() -> Registry:
    """The registry decorators write into right now."""
    return _current


@contextlib.contextmanager
def capture() -> Iterator[Registry]:
    """Collect registrations made inside the block into a fresh registry."""
    global _current
    with _lock:
        previous, _current = _current, Registry()
        try:
            yield _current
        finally:
            _current = previous

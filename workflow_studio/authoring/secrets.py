"""``ws.secret(name)``: step code reads the named secrets its deployment declares.

On the worker the loader runs each step of a deployment inside ``reading_secrets(scope)``:
the scope knows the deployment's declared names and reads a value from the worker's store
when the step asks (``SecretSource``), so a secret set or rotated before a step starts is
what that step reads, on every process. Workflow (orchestration) code can never read one:
it is replayed, and whatever it computes from a value could reach the event log. A step
that returns a secret stores it; that is the step author's choice, not ours.

Outside a worker (the local world, tests, a child of ``isolation="process"``, which the
worker starts without its store) ``ws.secret(name)`` reads the environment variable
``name``, so development needs no server; a missing one is a clear error.

``as_env`` secrets: while a step of their deployment runs, ``os.environ`` and ``os.getenv``
on that step's thread show them (``ScopedEnviron``, installed by the loader the first time
a deployment declares one); other threads, other deployments and the worker's own code see
the environment as it is. Child processes started without ``env=`` do not inherit them.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from workflow_studio.authoring.context import in_workflow_code, step_runtime
from workflow_studio.authoring.errors import (
    FatalError,
    NotAllowedInWorkflowError,
    NotInWorkflowError,
)


class SecretSource(Protocol):
    def read(self, name: str) -> str | None:
        """The value of ``name`` now, or None when it is not set."""
        ...


class SecretNotDeclaredError(FatalError):
    """The step read a secret its deployment does not declare (retrying cannot help)."""


class SecretNotSetError(LookupError):
    """The secret is declared but has no value (retried: an operator may set it)."""


@dataclasses.dataclass(frozen=True)
class SecretScope:
    """What the steps of one deployment may read, and where the values come from."""

    deployment_id: str
    declared: frozenset[str]
    source: SecretSource
    as_env: frozenset[str] = frozenset()


class ScopedEnviron(os._Environ[str]):
    """``os.environ`` plus, on the thread of a step whose deployment declares ``as_env``
    secrets, those secrets. It shares its data with the environment it replaces, so writes
    through either reach the same variables (and ``putenv``)."""

    def __init__(self, base: os._Environ[str]) -> None:
        super().__init__(base._data, base.encodekey, base.decodekey,  # type: ignore[attr-defined]
                         base.encodevalue, base.decodevalue)
        self._overlay = threading.local()

    def _extra(self) -> Mapping[str, str]:
        extra: Mapping[str, str] = getattr(self._overlay, "values", None) or {}
        return extra

    def __getitem__(self, key: str) -> str:
        extra = self._extra()
        return extra[key] if key in extra else super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        extra = self._extra()
        yield from extra
        yield from (key for key in super().__iter__() if key not in extra)

    def __len__(self) -> int:
        extra = self._extra()
        return len(extra) + sum(1 for key in super().__iter__() if key not in extra)

    @contextmanager
    def showing(self, values: Mapping[str, str]) -> Iterator[None]:
        """Show ``values`` on this thread for the block."""
        previous = getattr(self._overlay, "values", None)
        self._overlay.values = {**(previous or {}), **values}
        try:
            yield
        finally:
            self._overlay.values = previous


def scoped_environ() -> ScopedEnviron:
    """``os.environ`` as a ``ScopedEnviron`` (replacing it the first time)."""
    if not isinstance(os.environ, ScopedEnviron):
        os.environ = ScopedEnviron(os.environ)  # noqa: B003 (same data: nothing is lost)
    return os.environ


_local = threading.local()  # the scope of the step running on this thread


@contextmanager
def reading_secrets(scope: SecretScope) -> Iterator[None]:
    """Run a step of ``scope.deployment_id``: ``ws.secret`` reads through ``scope``."""
    previous = getattr(_local, "scope", None)
    _local.scope = scope
    try:
        if scope.as_env:
            values = {name: value for name in sorted(scope.as_env)
                      if (value := scope.source.read(name)) is not None}
            with scoped_environ().showing(values):
                yield
        else:
            yield
    finally:
        _local.scope = previous


def secret(name: str) -> str:
    """The value of the named secret, read when called (a rotated value is seen by the next
    step that reads it). Only in step code; the deployment must declare ``name`` in
    ``define_config(secrets=[...])``."""
    if in_workflow_code():
        raise NotAllowedInWorkflowError(
            f"ws.secret({name!r}) cannot be called in workflow code: it is replayed, and what "
            "it computes may be recorded in the event log. Read the secret in a @step (and "
            "do not return it from the step).")
    if step_runtime() is None:
        raise NotInWorkflowError(
            f"ws.secret({name!r}) can only be called inside a @step while it runs")
    scope: SecretScope | None = getattr(_local, "scope", None)
    if scope is None:
        value = os.environ.get(name)
        if value is None:
            raise SecretNotSetError(
                f"secret {name!r} is not set: outside a worker (the local world, tests) "
                f"secrets are read from the environment, so set {name}; on a worker, steps "
                "with isolation='process' cannot read secrets yet")
        return value
    if name not in scope.declared:
        declared = ", ".join(sorted(scope.declared)) or "none"
        raise SecretNotDeclaredError(
            f"secret {name!r} is not declared by deployment {scope.deployment_id} (it "
            f"declares: {declared}); add it to define_config(secrets=[...]), then build and "
            "deploy again")
    value = scope.source.read(name)
    if value is None:
        raise SecretNotSetError(
            f"secret {name!r} is declared but not set on this worker; set it with "
            f"`workflow-studio secrets set {name}`")
    return value

"""Starting runs: ``start(workflow, *args, **kwargs)`` and ``start_with(...).start(...)``.

``start`` passes every keyword argument to the workflow, so a workflow's parameters never
collide with start options. Options go through ``start_with(idempotency_key=...)``, which
returns a ``Starter`` whose ``.start`` has the same signature::

    run = ws.start(checkout, 42)                                   # Run[Receipt]
    run = ws.start_with(idempotency_key="order-42").start(checkout, 42)

Both are typed from the workflow: the arguments are checked against its parameters and the
``Run`` carries its return type. A workflow given by name starts a ``Run[Any]``.

``start`` belongs in a ``@step`` or outside workflows: in workflow code it raises
``NotAllowedInWorkflowError``, because the start is not recorded and every replay of the
workflow would start another run. A step may run more than once (at-least-once), so give
``start_with(idempotency_key=...)`` a key the workflow passes the step when exactly one run
matters.

Deprecated for one release: ``start(wf, ..., idempotency_key=k)`` on a workflow that has no
parameter named ``idempotency_key`` still sets the option, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from workflow_studio.authoring.context import in_workflow_code
from workflow_studio.authoring.errors import NotAllowedInWorkflowError
from workflow_studio.sdk.runs import Run
from workflow_studio.sdk.worlds import get_world

if TYPE_CHECKING:
    from typing_extensions import deprecated

    from workflow_studio.authoring.decorators import Workflow
else:
    def deprecated(_message: str) -> Callable[[Any], Any]:
        return lambda fn: fn

P = ParamSpec("P")
R = TypeVar("R")

_IDEMPOTENCY_KEY = "idempotency_key"
_DEPRECATED_KEY = (
    "start(workflow, ..., idempotency_key=...) is deprecated and will be removed in the next "
    "release: use start_with(idempotency_key=...).start(workflow, ...) instead (start() will "
    "pass idempotency_key to the workflow like any other keyword argument)")


@dataclasses.dataclass(frozen=True)
class StartOptions:
    """How a run is started; ``start_with(...)`` builds one.

    ``idempotency_key``: starting again with the same key and the same arguments returns the
    first run instead of a new one (the same key with different arguments is an error). The
    local world keeps keys for 24 h; the worker for ``worker.idempotency_retention_seconds``.
    Without a key every ``start`` makes a new run (the remote world still sends a fresh key
    per call, so the client's own retries never start a run twice).
    """

    idempotency_key: str | None = None


@dataclasses.dataclass(frozen=True)
class Starter:
    """``start_with(...)``'s result: ``.start(...)`` starts runs with its ``options``."""

    options: StartOptions = StartOptions()

    @overload
    def start(self, workflow: Workflow[P, R], /, *args: P.args,
              **kwargs: P.kwargs) -> Run[R]: ...
    @overload
    def start(self, workflow: str, /, *args: Any, **kwargs: Any) -> Run[Any]: ...

    def start(self, workflow: Workflow[..., Any] | str, /, *args: Any,
              **kwargs: Any) -> Run[Any]:
        """Start a run of ``workflow`` (a ``@workflow`` function or its registered name) with
        these options; every argument after it goes to the workflow. Returns at once."""
        return _start(self.options, workflow, args, kwargs)


def start_with(*, idempotency_key: str | None = None) -> Starter:
    """Start options, for ``start_with(...).start(workflow, *args, **kwargs)``.

    ``idempotency_key`` makes the start idempotent (see ``StartOptions``)::

        run = ws.start_with(idempotency_key=f"order-{order_id}").start(place_order, order_id)
    """
    if idempotency_key is not None and not isinstance(idempotency_key, str):
        raise TypeError(f"idempotency_key must be a string, not "
                        f"{type(idempotency_key).__name__}")
    if idempotency_key == "":
        raise ValueError("idempotency_key must not be empty (pass None for no key)")
    return Starter(StartOptions(idempotency_key=idempotency_key))


@overload
def start(workflow: Workflow[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Run[R]: ...
@overload
@deprecated("start(..., idempotency_key=...) is deprecated: use "
            "start_with(idempotency_key=...).start(...)")
def start(workflow: Workflow[..., R], /, *args: Any, idempotency_key: str | None,
          **kwargs: Any) -> Run[R]: ...
@overload
@deprecated("start(..., idempotency_key=...) is deprecated: use "
            "start_with(idempotency_key=...).start(...)")
def start(workflow: str, /, *args: Any, idempotency_key: str | None,
          **kwargs: Any) -> Run[Any]: ...
@overload
def start(workflow: str, /, *args: Any, **kwargs: Any) -> Run[Any]: ...


def start(workflow: Workflow[..., Any] | str, /, *args: Any, **kwargs: Any) -> Run[Any]:
    """Start a run of ``workflow`` (a ``@workflow`` function or its registered name); returns
    its ``Run`` handle at once. Every argument after ``workflow`` goes to the workflow; for
    start options use ``start_with(...).start(...)``."""
    options = _NO_OPTIONS
    if _IDEMPOTENCY_KEY in kwargs and not _takes_idempotency_key(workflow):
        warnings.warn(_DEPRECATED_KEY, DeprecationWarning, stacklevel=2)
        options = StartOptions(idempotency_key=kwargs.pop(_IDEMPOTENCY_KEY))
    return _start(options, workflow, args, kwargs)


_NO_OPTIONS = StartOptions()


def _start(options: StartOptions, workflow: Workflow[..., Any] | str,
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run[Any]:
    if in_workflow_code():
        raise NotAllowedInWorkflowError(
            f"start({_workflow_name(workflow)!r}) inside a workflow would start a new run on "
            "every replay (the start is not recorded): call it from a @step, or use child "
            "workflows when they land")
    world = get_world()
    run = world.start_run(_workflow_name(workflow), args, kwargs, options.idempotency_key)
    return Run(run["id"], world, run)


def _workflow_name(workflow: object) -> str:
    if isinstance(workflow, str):
        return workflow
    definition = getattr(workflow, "__workflow__", None)
    if definition is None:
        raise TypeError(f"start() takes a @workflow function or its name, not {workflow!r}")
    return str(definition.name)


def _takes_idempotency_key(workflow: object) -> bool:
    """Whether the workflow declares a parameter named ``idempotency_key`` (then ``start``
    passes it through instead of reading it as the deprecated option)."""
    if isinstance(workflow, str):
        from workflow_studio.authoring.registry import seen
        definition = seen().workflows.get(workflow)
    else:
        definition = getattr(workflow, "__workflow__", None)
    if definition is None:
        return False
    try:
        parameter = inspect.signature(definition.fn).parameters.get(_IDEMPOTENCY_KEY)
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)

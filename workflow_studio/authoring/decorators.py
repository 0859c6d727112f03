"""``@workflow`` and ``@step``: usable bare or with arguments; they register by name.

Registration is all the build and the deployment loader need. A decorated workflow is the
function behind a thin guard (``functools.wraps``: same name and signature, and a
``__workflow__`` attribute holding its ``WorkflowDef``, whose ``fn`` is the guarded function);
type checkers see it as a ``Workflow[P, R]`` with the function's own signature, which is what
lets ``start(wf, ...)`` check the arguments and type the run's result. The guard refuses a
call from inside another workflow's code (``NotAllowedInWorkflowError``): the call would run
inline, unrecorded, instead of as a run of its own. Called anywhere else (a test, a step) it
is the plain function.

A decorated step becomes a ``StepFunction[P, R]``: called inside a running workflow it is
checkpointed by the engine (through the thread-local runtime of ``authoring.context``);
called inside another step it runs plainly; called anywhere else it raises
``NotInWorkflowError``. ``StepDef.fn`` stays the undecorated function, which is what the
engine executes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast, overload

from workflow_studio.authoring.api import StepCall
from workflow_studio.authoring.context import (
    enter_workflow_function,
    in_workflow_code,
    step_runtime,
    workflow_runtime,
)
from workflow_studio.authoring.errors import NotAllowedInWorkflowError, NotInWorkflowError
from workflow_studio.authoring.registry import (
    DEFAULT_MAX_RETRIES,
    ISOLATIONS,
    Isolation,
    StepDef,
    WorkflowDef,
    current,
)

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Workflow(Protocol[P, R_co]):
    """What ``@workflow`` returns: the function, with its signature, plus its definition.

    Pass it to ``start(workflow, *args, **kwargs)``; the arguments are checked against the
    function's parameters and the run is a ``Run[R]``.
    """

    __name__: str
    __qualname__: str
    __module__: str

    @property
    def __workflow__(self) -> WorkflowDef: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


class _WorkflowDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> Workflow[P, R]: ...


class _StepDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> StepFunction[P, R]: ...


@overload
def workflow(fn: Callable[P, R], /) -> Workflow[P, R]: ...
@overload
def workflow(*, name: str | None = None) -> _WorkflowDecorator: ...


def workflow(fn: Callable[..., Any] | None = None, *,
             name: str | None = None) -> Workflow[..., Any] | _WorkflowDecorator:
    """Register a workflow function (``name`` defaults to the function's name)."""
    def register(func: Callable[P, R]) -> Workflow[P, R]:
        workflow_name = name or func.__name__

        @functools.wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if in_workflow_code() and not enter_workflow_function():
                raise NotAllowedInWorkflowError(
                    f"workflow {workflow_name!r} was called directly inside another "
                    "workflow: it would run inline as unrecorded workflow code, not as a run "
                    "of its own. Call its steps instead, or start it from a @step with "
                    "workflow_studio.start(...) (child workflows are planned)")
            return func(*args, **kwargs)

        definition = WorkflowDef(name=workflow_name, fn=guarded, module=func.__module__)
        current().add_workflow(definition)
        guarded.__workflow__ = definition  # type: ignore[attr-defined]
        return cast("Workflow[P, R]", guarded)
    return register(fn) if fn is not None else register


@overload
def step(fn: Callable[P, R], /) -> StepFunction[P, R]: ...
@overload
def step(*, name: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
         retry_delay: float = 1.0, backoff: float = 2.0,
         timeout: float | None = None, isolation: Isolation = "thread",
         check_args: bool = True) -> _StepDecorator: ...


def step(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         max_retries: int = DEFAULT_MAX_RETRIES, retry_delay: float = 1.0,
         backoff: float = 2.0, timeout: float | None = None,
         isolation: Isolation = "thread",
         check_args: bool = True) -> StepFunction[..., Any] | _StepDecorator:
    """Register a step function with its retry policy.

    ``timeout`` (seconds) bounds each attempt; a timed-out attempt fails and is retried.
    ``isolation`` says where attempts run: ``"thread"`` (the default) in the executor's
    process, where a timed-out body cannot be stopped (it runs on, fenced: its result is
    discarded, its stream writes raise ``StepTimeoutError``, and the retry waits for it);
    ``"process"`` in a fresh child process that is killed at the timeout. A process step
    must be defined at module level, and its arguments and stream chunks must be picklable.

    ``check_args``: on replay, a recorded call of this step must have been made with the
    same arguments, else the run fails with ``nondeterministic_replay`` (returning the old
    result for new arguments would be wrong). ``False`` for a step whose arguments may
    legitimately differ between replays (a setting or credential that workflow code reads
    from the environment): the recorded result is returned whatever they are.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(map(repr, ISOLATIONS))}, "
                         f"not {isolation!r}")

    def register(func: Callable[P, R]) -> StepFunction[P, R]:
        if isolation == "process" and "<locals>" in func.__qualname__:
            raise ValueError(
                f"step {func.__qualname__!r} has isolation='process', so a fresh process "
                "must find it by importing its module: define it at module level")
        definition = StepDef(name=name or func.__name__, fn=func, module=func.__module__,
                             max_retries=max_retries, retry_delay=retry_delay,
                             backoff=backoff, timeout=timeout, isolation=isolation,
                             check_args=check_args)
        current().add_step(definition)
        return StepFunction(definition)
    return register(fn) if fn is not None else register


class StepFunction(Generic[P, R]):
    """What ``@step`` returns: call it in a workflow; ``.defer``/``.map`` for fan-out.

    ``.fn`` is the plain function (call it to run the step's code without the engine).
    """

    __step__: StepDef
    fn: Callable[P, R]
    __name__: str  # these three come from the function (functools.update_wrapper)
    __qualname__: str
    __wrapped__: Callable[P, R]

    def __init__(self, definition: StepDef) -> None:
        self.__step__ = definition
        self.fn = definition.fn
        functools.update_wrapper(self, definition.fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if step_runtime() is not None:
            return self.fn(*args, **kwargs)  # a step calling a step: plain call
        runtime = workflow_runtime()
        if runtime is None:
            name = self.__step__.name
            raise NotInWorkflowError(
                f"step {name!r} was called outside a workflow: call it from a @workflow "
                f"function started with workflow_studio.start(...), or call {name}.fn(...) "
                "to run the plain function")
        return cast(R, runtime.call_step(self.__step__, args, kwargs))

    def defer(self, *args: P.args, **kwargs: P.kwargs) -> StepCall:
        """This call, for ``parallel(...)``."""
        return StepCall(self.__step__, args, kwargs)

    def map(self, items: Iterable[Any]) -> list[R]:
        """Call the step once per item, all at once on other slots; results in order."""
        from workflow_studio.authoring.api import parallel
        return parallel(*[StepCall(self.__step__, (item,), {}) for item in items])

    def __repr__(self) -> str:
        return f"<step {self.__step__.name}>"

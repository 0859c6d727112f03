"""Durable primitives for workflow code: ``sleep``, hooks, ``parallel``, deterministic
``now``/``uuid4``/``random``, and ``get_writable`` for steps.

Each call is recorded in the run's log by call order, so on replay it returns what the first
execution saw.
"""

from __future__ import annotations

import random as _random
import uuid as _uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow_studio.authoring.context import require_workflow, step_runtime
from workflow_studio.authoring.errors import NotInWorkflowError


def sleep(duration: float | int | timedelta | str | datetime) -> None:
    """Park the run for ``duration`` (seconds, timedelta, "10m") or until a datetime."""
    require_workflow("sleep()").sleep(duration)


class Hook:
    """A token an outside caller resumes the run with (``resume_hook(token, payload)``)."""

    def __init__(self, runtime: Any, hook_id: str, token: str, seq: int) -> None:
        self._runtime, self.id, self.token, self.seq = runtime, hook_id, token, seq

    def wait(self, timeout: float | timedelta | str | None = None) -> Any:
        """Park the run until the payload arrives; returns it. ``HookTimeoutError`` after
        ``timeout``."""
        return self._runtime.hook_wait(self, timeout)

    def __repr__(self) -> str:
        return f"Hook(token={self.token!r})"


def create_hook(token: str | None = None, metadata: Any = None) -> Hook:
    """A hook with ``token`` (random when omitted); ``.wait()`` returns the payload."""
    return require_workflow("create_hook()").create_hook(token, metadata)


class Webhook(Hook):
    """A hook an external system resumes by POSTing to ``url`` (no API key: the URL carries
    a token signed by the worker). The request body (JSON, else text) is the payload."""

    def __init__(self, hook: Hook, url: str | None) -> None:
        super().__init__(hook._runtime, hook.id, hook.token, hook.seq)
        self.url = url

    def __repr__(self) -> str:
        return f"Webhook(url={self.url!r})"


def create_webhook(metadata: Any = None) -> Webhook:
    """A hook with a public URL (``hook.url``) an external system can POST to.

    The token is random and recorded like any hook's, so a replay returns the same URL.
    """
    runtime = require_workflow("create_webhook()")
    hook = runtime.create_hook(None, {"webhook": True, "metadata": metadata})
    return Webhook(hook, runtime.webhook_url(hook.token))


class StepCall:
    """A step call not yet made, for ``parallel``: ``parallel(fetch.defer(1), ...)``."""

    def __init__(self, definition: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.definition, self.args, self.kwargs = definition, args, kwargs


def _as_call(item: Any) -> StepCall:
    if isinstance(item, StepCall):
        return item
    if isinstance(item, tuple) and item and hasattr(item[0], "__step__"):
        return StepCall(item[0].__step__, tuple(item[1:]), {})
    raise TypeError("parallel() takes step.defer(...) calls or (step, *args) tuples, "
                    f"not {type(item).__name__}")


def parallel(*calls: StepCall | tuple[Any, ...] | Iterable[Any]) -> list[Any]:
    """Run several steps at once on other executor slots; returns their results in order.

    A step that failed for good raises ``StepFailedError`` here (the first in order).
    """
    if len(calls) == 1 and not isinstance(calls[0], (StepCall, tuple)):
        calls = tuple(calls[0])
    prepared = [_as_call(c) for c in calls]
    runtime = require_workflow("parallel()")
    if not prepared:
        return []
    return runtime.call_parallel([(c.definition, c.args, c.kwargs) for c in prepared])


def now() -> datetime:
    """The current UTC time, recorded: a replay sees the same value."""
    return require_workflow("now()").record_value(
        "now", lambda: datetime.now(UTC))


def uuid4() -> _uuid.UUID:
    """A random UUID, recorded."""
    return require_workflow("uuid4()").record_value("uuid4", _uuid.uuid4)


def random() -> float:
    """A random float in [0, 1), recorded."""
    return require_workflow("random()").record_value("random", _random.random)


class Writable:
    """An append-only stream of a run, readable from outside while the run is live."""

    def __init__(self, runtime: Any, name: str) -> None:
        self._runtime, self.name, self.closed = runtime, name, False

    def write(self, chunk: Any) -> None:
        if self.closed:
            raise ValueError(f"stream {self.name!r} is closed")
        self._runtime.write_stream(self.name, chunk, False)

    def close(self) -> None:
        if not self.closed:
            self._runtime.write_stream(self.name, None, True)
            self.closed = True

    def __enter__(self) -> Writable:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def get_writable(name: str = "default") -> Writable:
    """The run's stream ``name``, for writing from inside a step."""
    runtime = step_runtime()
    if runtime is None:
        raise NotInWorkflowError("get_writable() can only be used inside a @step while it runs")
    return Writable(runtime, name)


__all__ = ["Hook", "StepCall", "Webhook", "Writable", "create_hook", "create_webhook",
           "get_writable", "now", "parallel", "random", "sleep",
           "uuid4"]



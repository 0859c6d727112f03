"""One attempt of a step function: run it where its isolation says (under a timeout when it
has one), classify the outcome and compute the retry delay.

Outcomes: ``ok`` (result serialised), ``fatal`` (FatalError, SystemExit, KeyboardInterrupt,
or a value that cannot be stored: a result or stream chunk that cannot be serialised, or is
over the payload limit; retrying would not help), ``retry`` (any other exception, with the
time to retry) or ``failed`` (retries exhausted).

Timeouts, in the default thread isolation: the attempt's body runs on a thread of its own.
When it overruns, the attempt fails with ``StepTimeoutError`` at once, and it is *fenced*:
whatever it returns later is discarded and each stream write it starts after the deadline
raises ``StepTimeoutError`` (a write already under way finishes first). Python cannot stop a
thread, so the body runs on until it returns; the outcome carries that thread as
``straggler``, and a caller that will retry the step holds its claim (and the slot) until
``wait_for_straggler`` sees it end: the retry is scheduled no earlier than the old attempt's
end, so no two attempts of one step ever run at once. When no retry follows, nobody waits.
``isolation="process"`` (``engine/isolation.py``) runs the attempt in a child process that
is killed at the timeout instead.

A failed attempt's error carries its traceback (``stack``, see ``log.error_dict``); a thread
attempt that timed out carries where its body was at the deadline. ``log_outcome`` writes
the engine's one line per retry, failure and timeout (nothing for a success).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from workflow_studio.authoring.context import StepRuntime, running_step
from workflow_studio.authoring.durations import seconds
from workflow_studio.authoring.errors import FatalError, RetryableError, StepTimeoutError
from workflow_studio.authoring.registry import StepDef
from workflow_studio.compute import payloads
from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.payloads import DEFAULT_MAX_BYTES
from workflow_studio.engine.log import STACK_LIMIT, error_dict

log = logging.getLogger("workflow_studio.engine")
STRAGGLER_CHECK = 0.25  # seconds between looks at the run while waiting for a straggler
LOGGED_MESSAGE = 500  # characters of an error's message in a log line (the step has it all)

# Not ours to honour, so they fail the step without retry: a step must not stop the executor
# slot (or process) running it, and code that exits would exit again on every retry.
EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


@dataclasses.dataclass
class Outcome:
    kind: str                      # "ok" | "fatal" | "retry" | "failed"
    output_json: str | None = None
    error: dict[str, Any] | None = None
    retry_at: int | None = None
    # A timed-out (thread) attempt's body, still running: see ``wait_for_straggler``.
    straggler: threading.Thread | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class StepContext:
    """What ``get_writable`` needs while a step runs (the authoring ``StepRuntime``)."""

    run_id: str
    step_id: str
    attempt: int
    writer: Any

    release: Any = None  # closes what a step's own thread opened (e.g. for streams)
    max_payload_bytes: int | None = DEFAULT_MAX_BYTES  # of the result, as JSON
    fenced: str | None = None  # set at the timeout: why this attempt may write no more
    straggler: threading.Thread | None = dataclasses.field(default=None, repr=False)
    straggler_stack: str | None = None  # where the timed-out body was at its deadline
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def write_stream(self, name: str, data: Any, close: bool) -> None:
        with self._lock:
            if self.fenced is not None:
                raise StepTimeoutError(self.fenced)
            self.writer(self.run_id, name, data, close)

    def fence(self, reason: str) -> None:
        """From now on every stream write of this attempt raises (one under way finishes)."""
        with self._lock:
            self.fenced = reason


def _call(definition: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
          context: StepContext, timeout: float | None) -> Any:
    if not timeout:
        with running_step(context):
            return definition.fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            with running_step(context):
                box["value"] = definition.fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc
        finally:
            if context.release is not None:
                context.release()

    thread = threading.Thread(target=target, name=f"step-{definition.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        message = f"step {definition.name!r} exceeded its timeout of {timeout}s"
        context.fence(f"{message}: this attempt was abandoned and can no longer write")
        context.straggler = thread
        frame = sys._current_frames().get(thread.ident or 0)
        if frame is not None:
            context.straggler_stack = (
                "The timed-out attempt was here at its deadline (most recent call last):\n"
                + "".join(traceback.format_stack(frame)))
        log.warning("run %s step %r attempt %d timed out after %ss; its body runs on in "
                    "its thread and its result will be discarded", context.run_id,
                    definition.name, context.attempt, timeout)
        raise StepTimeoutError(message)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_attempt(definition: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: StepContext, timeout: float | None = None) -> Outcome:
    """Run the step once and say what to record. ``timeout``: the deployment's default,
    for a step that sets none."""
    timeout = definition.timeout or timeout
    if definition.isolation == "process":
        from workflow_studio.engine import isolation  # it builds on this module
        return isolation.run_in_process(definition, args, kwargs, context, timeout)
    try:
        value = _call(definition, args, kwargs, context, timeout)
    except (Exception, *EXITS) as exc:
        outcome = outcome_of_error(definition, context.attempt, exc)
        outcome.straggler = context.straggler
        if context.straggler_stack is not None and outcome.error is not None:
            outcome.error["stack"] = context.straggler_stack[-2 * STACK_LIMIT:]
        return outcome
    return outcome_of_value(definition, context.attempt, value, context.max_payload_bytes)


def run_here(definition: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
             runtime: StepRuntime, max_payload_bytes: int | None) -> Outcome:
    """One attempt on the calling thread, with no timeout (a process attempt's child)."""
    try:
        with running_step(runtime):
            value = definition.fn(*args, **kwargs)
    except (Exception, *EXITS) as exc:
        return outcome_of_error(definition, runtime.attempt, exc)
    return outcome_of_value(definition, runtime.attempt, value, max_payload_bytes)


def outcome_of_error(definition: StepDef, attempt: int, exc: BaseException) -> Outcome:
    if isinstance(exc, (FatalError, *EXITS)):
        return Outcome("fatal", error=error_dict(exc, attempts=attempt))
    if isinstance(exc, payloads.PayloadError):  # e.g. a stream chunk it wrote: the same every try
        return Outcome("fatal", error={"type": "PayloadError", "attempts": attempt,
                                       "message": f"step {definition.name!r} wrote a value "
                                                  f"that cannot be stored: {exc}"})
    if attempt > definition.max_retries:
        return Outcome("failed", error=error_dict(exc, attempts=attempt))
    delay = definition.retry_delay * (definition.backoff ** (attempt - 1))
    if isinstance(exc, RetryableError) and exc.retry_after is not None:
        delay = seconds(exc.retry_after)
    retry_at = int((time.time() + delay) * 1000)
    return Outcome("retry", error=error_dict(exc, attempts=attempt), retry_at=retry_at)


def outcome_of_value(definition: StepDef, attempt: int, value: Any,
                     max_payload_bytes: int | None) -> Outcome:
    try:
        return Outcome("ok", output_json=payloads.dumps(value, "return value",
                                                        max_payload_bytes))
    except payloads.PayloadError as exc:
        message = f"step {definition.name!r} returned a value that cannot be stored: {exc}"
        return Outcome("fatal", error={"type": "PayloadError", "message": message,
                                       "attempts": attempt})


def log_outcome(run_id: str, step_name: str, attempt: int, outcome: Outcome) -> None:
    """The engine's line for an attempt that did not succeed: retried (with the delay) or
    failed for good. Successes log nothing (thousands of steps a second would drown the
    lines that matter)."""
    if outcome.kind == "ok":
        return
    error = outcome.error or {}
    what = f"{error.get('type')}: {str(error.get('message'))[:LOGGED_MESSAGE]}"
    if outcome.kind == "retry":
        delay = max(0, (outcome.retry_at or 0) - now_ms()) / 1000
        log.warning("run %s step %r attempt %d failed (%s); retrying in %.3fs", run_id,
                    step_name, attempt, what, delay)
    else:
        log.error("run %s step %r attempt %d failed (%s); %s", run_id, step_name, attempt,
                  what, "no retries left" if outcome.kind == "failed" else "not retried")


def wait_for_straggler(outcome: Outcome, check: Callable[[], None]) -> int:
    """Before a retry is scheduled: block until the timed-out attempt's body (if it is still
    running) has returned, calling ``check`` now and then (it raises to give up, e.g. when
    the run was cancelled). Returns when the retry may run: its ``retry_at``, or now if
    that passed while waiting. The caller holds its claim meanwhile, so no other executor
    can start the retry either."""
    thread = outcome.straggler
    if thread is not None and thread.is_alive():
        log.warning("the timed-out attempt of %s is still running (a thread cannot be "
                    "stopped; isolation='process' can be): the retry waits for it to return",
                    thread.name)
        while thread.is_alive():
            thread.join(STRAGGLER_CHECK)
            check()
    return max(outcome.retry_at or 0, now_ms())

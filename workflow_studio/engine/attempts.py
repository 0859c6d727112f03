"""One attempt of a step function: run it (under a timeout when it has one), classify the
outcome and compute the retry delay.

Outcomes: ``ok`` (result serialised), ``fatal`` (FatalError, or a result that cannot be
serialised: retrying would not help), ``retry`` (any other exception, with the time to
retry) or ``failed`` (retries exhausted).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from workflow_studio.authoring.context import running_step
from workflow_studio.authoring.durations import seconds
from workflow_studio.authoring.errors import FatalError, RetryableError
from workflow_studio.authoring.registry import StepDef
from workflow_studio.compute import payloads
from workflow_studio.engine.log import error_dict

log = logging.getLogger("workflow_studio.engine")


class StepTimeout(Exception):
    """A step ran longer than its timeout; the attempt counts as failed (and is retried)."""


@dataclasses.dataclass
class Outcome:
    kind: str                      # "ok" | "fatal" | "retry" | "failed"
    output_json: str | None = None
    error: dict[str, Any] | None = None
    retry_at: int | None = None


@dataclasses.dataclass
class StepContext:
    """What ``get_writable`` needs while a step runs (the authoring ``StepRuntime``)."""

    run_id: str
    step_id: str
    attempt: int
    writer: Any

    release: Any = None  # closes what a step's own thread opened (e.g. for streams)

    def write_stream(self, name: str, data: Any, close: bool) -> None:
        self.writer(self.run_id, name, data, close)


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
        log.warning("step %s exceeded its timeout of %ss; abandoning the attempt",
                    definition.name, timeout)
        raise StepTimeout(f"step {definition.name!r} exceeded its timeout of {timeout}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_attempt(definition: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: StepContext, timeout: float | None = None) -> Outcome:
    """Run the step once and say what to record."""
    attempt = context.attempt
    try:
        value = _call(definition, args, kwargs, context, definition.timeout or timeout)
    except FatalError as exc:
        return Outcome("fatal", error=error_dict(exc, attempts=attempt))
    except (KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
        # Not ours to honour: a step must not stop the executor slot running it.
        return Outcome("fatal", error=error_dict(exc, attempts=attempt))
    except Exception as exc:
        if attempt > definition.max_retries:
            return Outcome("failed", error=error_dict(exc, attempts=attempt))
        delay = definition.retry_delay * (definition.backoff ** (attempt - 1))
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            delay = seconds(exc.retry_after)
        retry_at = int((time.time() + delay) * 1000)
        return Outcome("retry", error=error_dict(exc, attempts=attempt), retry_at=retry_at)
    try:
        return Outcome("ok", output_json=payloads.dumps(value, "return value"))
    except payloads.PayloadError as exc:
        message = f"step {definition.name!r} returned a value that cannot be stored: {exc}"
        return Outcome("fatal", error={"type": "PayloadError", "message": message,
                                       "attempts": attempt})

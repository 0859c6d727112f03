"""Exceptions workflow and step code raises or sees.

``FatalError`` and ``RetryableError`` steer the retry policy of a step. ``StepFailedError``
is what a workflow sees when a step has failed for good: the same type on the first execution
and on every replay, so ``except StepFailedError`` behaves identically both times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


class FatalError(Exception):
    """Raise in a step to fail it at once, without retries."""


class RetryableError(Exception):
    """Raise in a step to retry it after ``retry_after`` (seconds, timedelta or "2s")."""

    def __init__(self, message: str = "", retry_after: float | timedelta | str | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class StepFailedError(Exception):
    """A step failed for good (fatal error or retries exhausted)."""

    def __init__(self, step_name: str, error_type: str, message: str,
                 attempts: int | None = None) -> None:
        super().__init__(f"step {step_name!r} failed: {error_type}: {message}")
        self.step_name = step_name
        self.error_type = error_type
        self.error_message = message
        self.attempts = attempts

    @classmethod
    def from_record(cls, step_name: str, error: dict[str, Any]) -> StepFailedError:
        return cls(step_name, error.get("type", "Error"), error.get("message", ""),
                   error.get("attempts"))


class NotInWorkflowError(RuntimeError):
    """A durable primitive (a step call, ``sleep``, ``create_hook``...) ran outside a
    workflow."""


class NotAllowedInWorkflowError(RuntimeError):
    """Workflow code did something the replay cannot record, so every replay would do it
    again: ``start()`` (call it from a ``@step``), or calling another ``@workflow`` function
    directly (start it from a step, or call its steps)."""


class StepTimeoutError(TimeoutError):
    """An attempt of a step ran longer than its timeout; the attempt fails (and is retried
    like any error). Code of a timed-out attempt that is still running (the default thread
    isolation cannot stop it) gets this from every stream write: it can record nothing."""


class HookConflictError(Exception):
    """``create_hook(token=...)`` named a token another live hook already holds."""


class HookTimeoutError(TimeoutError):
    """``hook.wait(timeout=...)`` ran out of time before a payload arrived."""


class NonDeterministicReplayError(BaseException):
    """A replay called something other than what the log recorded at that position.

    A ``BaseException`` so that ``except Exception`` in workflow code cannot swallow it.
    """

    code = "nondeterministic_replay"

"""Workflow Studio for Python: durable workflows in plain synchronous Python.

Names are imported lazily so that ``import workflow_studio.worker`` (in a gunicorn process)
does not pull in the whole SDK, and the one-way package dependencies stay visible. Type
checkers and IDEs read the ``TYPE_CHECKING`` imports below instead, so every public name has
its real type; ``tests/sdk/test_public_api.py`` keeps the two lists in step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from workflow_studio.version import __version__

if TYPE_CHECKING:
    from workflow_studio.authoring.api import (
        Hook,
        Webhook,
        create_hook,
        create_webhook,
        get_writable,
        now,
        parallel,
        random,
        sleep,
        uuid4,
    )
    from workflow_studio.authoring.decorators import StepFunction, Workflow, step, workflow
    from workflow_studio.authoring.errors import (
        FatalError,
        HookConflictError,
        HookTimeoutError,
        NonDeterministicReplayError,
        NotAllowedInWorkflowError,
        NotInWorkflowError,
        RetryableError,
        StepFailedError,
        StepTimeoutError,
    )
    from workflow_studio.authoring.secrets import secret
    from workflow_studio.compute.errors import RunErrorCode
    from workflow_studio.config.settings import define_config
    from workflow_studio.sdk import (
        HookAlreadyResolvedError,
        HookNotFoundError,
        Run,
        RunCancelledError,
        RunFailedError,
        RunNotFinishedError,
        RunSummary,
        Starter,
        StartOptions,
        get_run,
        list_runs,
        resume_hook,
        start,
        start_executor,
        start_with,
    )

_EXPORTS = {
    "define_config": "workflow_studio.config.settings",
    "secret": "workflow_studio.authoring.secrets",
    "workflow": "workflow_studio.authoring.decorators",
    "step": "workflow_studio.authoring.decorators",
    "Workflow": "workflow_studio.authoring.decorators",
    "StepFunction": "workflow_studio.authoring.decorators",
    "sleep": "workflow_studio.authoring.api",
    "create_hook": "workflow_studio.authoring.api",
    "create_webhook": "workflow_studio.authoring.api",
    "Webhook": "workflow_studio.authoring.api",
    "parallel": "workflow_studio.authoring.api",
    "get_writable": "workflow_studio.authoring.api",
    "now": "workflow_studio.authoring.api",
    "uuid4": "workflow_studio.authoring.api",
    "random": "workflow_studio.authoring.api",
    "Hook": "workflow_studio.authoring.api",
    "FatalError": "workflow_studio.authoring.errors",
    "RetryableError": "workflow_studio.authoring.errors",
    "StepFailedError": "workflow_studio.authoring.errors",
    "HookTimeoutError": "workflow_studio.authoring.errors",
    "HookConflictError": "workflow_studio.authoring.errors",
    "NotInWorkflowError": "workflow_studio.authoring.errors",
    "NotAllowedInWorkflowError": "workflow_studio.authoring.errors",
    "StepTimeoutError": "workflow_studio.authoring.errors",
    "NonDeterministicReplayError": "workflow_studio.authoring.errors",
    "start": "workflow_studio.sdk",
    "start_with": "workflow_studio.sdk",
    "start_executor": "workflow_studio.sdk",
    "Starter": "workflow_studio.sdk",
    "StartOptions": "workflow_studio.sdk",
    "get_run": "workflow_studio.sdk",
    "resume_hook": "workflow_studio.sdk",
    "Run": "workflow_studio.sdk",
    "RunFailedError": "workflow_studio.sdk",
    "RunCancelledError": "workflow_studio.sdk",
    "RunNotFinishedError": "workflow_studio.sdk",
    "RunSummary": "workflow_studio.sdk",
    "list_runs": "workflow_studio.sdk",
    "HookNotFoundError": "workflow_studio.sdk",
    "HookAlreadyResolvedError": "workflow_studio.sdk",
    "RunErrorCode": "workflow_studio.compute.errors",
}

__all__ = [
    "FatalError",
    "Hook",
    "HookAlreadyResolvedError",
    "HookConflictError",
    "HookNotFoundError",
    "HookTimeoutError",
    "NonDeterministicReplayError",
    "NotAllowedInWorkflowError",
    "NotInWorkflowError",
    "RetryableError",
    "Run",
    "RunCancelledError",
    "RunErrorCode",
    "RunFailedError",
    "RunNotFinishedError",
    "RunSummary",
    "StartOptions",
    "Starter",
    "StepFailedError",
    "StepFunction",
    "StepTimeoutError",
    "Webhook",
    "Workflow",
    "__version__",
    "create_hook",
    "create_webhook",
    "define_config",
    "get_run",
    "get_writable",
    "list_runs",
    "now",
    "parallel",
    "random",
    "resume_hook",
    "secret",
    "sleep",
    "start",
    "start_executor",
    "start_with",
    "step",
    "uuid4",
    "workflow",
]

if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name is an error there

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'workflow_studio' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})

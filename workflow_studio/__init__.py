"""Workflow Studio for Python: durable workflows in plain synchronous Python.

Names are imported lazily so that ``import workflow_studio.worker`` (in a gunicorn process)
does not pull in the whole SDK, and the one-way package dependencies stay visible.
"""

from __future__ import annotations

import importlib
from typing import Any

from workflow_studio.version import __version__

_EXPORTS = {
    "define_config": "workflow_studio.config.settings",
    "workflow": "workflow_studio.authoring.decorators",
    "step": "workflow_studio.authoring.decorators",
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
    "NonDeterministicReplayError": "workflow_studio.authoring.errors",
    "start": "workflow_studio.sdk",
    "get_run": "workflow_studio.sdk",
    "resume_hook": "workflow_studio.sdk",
    "Run": "workflow_studio.sdk",
    "RunFailedError": "workflow_studio.sdk",
    "RunCancelledError": "workflow_studio.sdk",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workflow_studio' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

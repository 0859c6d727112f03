"""Workflow Studio for Python: durable workflows in plain synchronous Python.

Names are imported lazily so that ``import workflow_studio.worker`` (in a gunicorn process)
does not pull in the whole SDK, and the one-way package dependencies stay visible.
"""

from __future__ import annotations

import importlib
from typing import Any

from workflow_studio.version import __version__

_EXPORTS = {
    "define_config": "workflow_studio.worker.settings",
    "workflow": "workflow_studio.authoring.decorators",
    "step": "workflow_studio.authoring.decorators",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workflow_studio' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

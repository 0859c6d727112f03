"""The app side: ``start()``, ``start_with()``, ``Run``, ``get_run()``, ``list_runs()``,
``resume_hook()``, their errors and world selection.

``WORKFLOW_TARGET_WORLD`` unset or ``local`` selects the embedded local world; the remote
world (``workflow-studio/world-remote``) plugs in behind the same ``World`` interface.

The code lives in ``worlds`` (selection), ``runs`` (the ``Run`` handle and its errors),
``starting`` (``start``/``start_with``), ``listing`` (``list_runs``) and ``errors`` (the
hook errors every world raises alike); this module is their public face.
"""

from __future__ import annotations

from workflow_studio.sdk.errors import HookAlreadyResolvedError, HookNotFoundError
from workflow_studio.sdk.listing import RunSummary, list_runs
from workflow_studio.sdk.runs import (
    Run,
    RunCancelledError,
    RunFailedError,
    RunNotFinishedError,
    get_run,
    resume_hook,
)
from workflow_studio.sdk.starting import Starter, StartOptions, start, start_with
from workflow_studio.sdk.worlds import REMOTE_WORLD, get_world, set_world, start_executor

__all__ = [
    "REMOTE_WORLD",
    "HookAlreadyResolvedError",
    "HookNotFoundError",
    "Run",
    "RunCancelledError",
    "RunFailedError",
    "RunNotFinishedError",
    "RunSummary",
    "StartOptions",
    "Starter",
    "get_run",
    "get_world",
    "list_runs",
    "resume_hook",
    "set_world",
    "start",
    "start_executor",
    "start_with",
]

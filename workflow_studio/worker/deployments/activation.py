"""Prove an unpacked deployment imports and registers what its manifest promises.

The proof runs the same collector the build uses (``workflow_studio.builder.collect``) in a
child interpreter with a timeout: user code that hangs, crashes the interpreter or calls
``sys.exit`` at import time can fail activation but never the worker process itself. A broken
artifact therefore never becomes active.

The child is given an environment of its own (``config.environment.user_environment``: the
essentials and ``worker.execution.env_passthrough``), never the worker's: what it imports is
uploaded by a ``deploy:write`` key, and its import error goes back to that key's holder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from workflow_studio.builder.collect import CollectError, run_collect
from workflow_studio.compute.manifest import Manifest
from workflow_studio.config.environment import user_environment


class ActivationError(Exception):
    """The deployment cannot be activated; the message carries the import error."""


def prove_importable(source_dir: str | Path, manifest: Manifest, timeout: float,
                     passthrough: Iterable[str] = ()) -> None:
    """Import ``manifest.modules`` from ``source_dir`` in a subprocess; check registrations.
    The subprocess sees only the essentials and the ``passthrough`` variables."""
    try:
        found = run_collect(source_dir, manifest.modules, timeout=timeout or None,
                            env=user_environment(passthrough))
    except CollectError as exc:
        raise ActivationError(f"the artifact does not import: {exc}") from None
    missing_workflows = sorted(set(manifest.workflows) - set(found.get("workflows", ())))
    missing_steps = sorted(set(manifest.steps) - set(found.get("steps", ())))
    if missing_workflows or missing_steps:
        parts = []
        if missing_workflows:
            parts.append(f"workflows {', '.join(missing_workflows)}")
        if missing_steps:
            parts.append(f"steps {', '.join(missing_steps)}")
        raise ActivationError("the artifact imports but does not register the manifest's "
                              + " and ".join(parts))

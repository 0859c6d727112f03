"""Prove an unpacked deployment imports and registers what its manifest promises.

The proof runs the same collector the build uses (``workflow_studio.builder.collect``) in a
child interpreter with a timeout: user code that hangs, crashes the interpreter or calls
``sys.exit`` at import time can fail activation but never the worker process itself. A broken
artifact therefore never becomes active.
"""

from __future__ import annotations

from pathlib import Path

from workflow_studio.builder.collect import CollectError, run_collect
from workflow_studio.compute.manifest import Manifest


class ActivationError(Exception):
    """The deployment cannot be activated; the message carries the import error."""


def prove_importable(source_dir: str | Path, manifest: Manifest, timeout: float) -> None:
    """Import ``manifest.modules`` from ``source_dir`` in a subprocess; check registrations."""
    try:
        found = run_collect(source_dir, manifest.modules, timeout=timeout or None)
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

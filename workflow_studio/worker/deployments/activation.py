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

import platform
from collections.abc import Iterable
from pathlib import Path

from workflow_studio.builder.collect import CollectError, run_collect
from workflow_studio.compute.manifest import Manifest
from workflow_studio.config.environment import user_environment


class ActivationError(Exception):
    """The deployment cannot be activated; the message carries the import error."""


def prove_importable(source_dir: str | Path, manifest: Manifest, timeout: float,
                     passthrough: Iterable[str] = (), deps_dir: str | Path | None = None
                     ) -> None:
    """Import ``manifest.modules`` from ``source_dir`` (its dependencies from ``deps_dir``)
    in a subprocess; check registrations. The subprocess sees only the essentials and the
    ``passthrough`` variables."""
    check_python(manifest)
    paths = [str(deps_dir)] if deps_dir is not None and Path(deps_dir).is_dir() else []
    try:
        found = run_collect(source_dir, manifest.modules, timeout=timeout or None,
                            env=user_environment(passthrough), paths=paths)
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


def _compiled(wheel: str) -> bool:
    """Whether a wheel (by its file name's tags) holds compiled code for one Python."""
    abi, plat = wheel[:-len(".whl")].split("-")[-2:]
    return not (abi == "none" and plat == "any")


def check_python(manifest: Manifest) -> None:
    """Compiled dependencies are built for one Python version: refuse another one here."""
    compiled = sorted(d.name for d in manifest.distributions if _compiled(d.wheel))
    built = ".".join(manifest.python_version.split(".")[:2])
    here = ".".join(platform.python_version().split(".")[:2])
    if compiled and built != here:
        raise ActivationError(
            f"the artifact was built with Python {built} and ships compiled dependencies "
            f"({', '.join(compiled)}); this worker runs Python {here}: build it with Python "
            f"{here}")

"""Load the code of deployment X into this process: the API the engine runs workflows with.

``DeploymentLoader(artifact_root, fetch).load(deployment_id)`` returns a ``LoadedDeployment``
whose ``registry`` holds that deployment's own workflow and step functions; the loader (one
per app, held by the worker's state) caches it and is thread-safe. ``load_deployment`` imports
afresh, uncached. Two steps, kept apart on purpose: ``ensure_unpacked`` makes the files exist on
this node (on SQLite they were unpacked at upload; on PostgreSQL a node that never received
the upload fetches the bytes from the database and verifies them, ``fetch.py``), ``_import``
turns files into functions.

How two deployments coexist in one process
------------------------------------------
Deployments usually contain the same module names (``myapp.workflows`` in v1 and v2), but
``sys.modules`` holds one module per name. Under one process-wide lock the loader:

1. sets aside any ``sys.modules`` entries under the deployment's top-level package names and
   those of its dependencies (another deployment's leftovers cannot exist, see 4; the
   host's own copy, e.g. the local world importing ``myapp`` from the working directory, or
   the worker's own ``requests``, is restored afterwards);
2. puts the deployment's ``src`` directory first on ``sys.path``, then its ``deps`` (the
   unpacked wheels of its ``requirements``), ahead of the worker's own site-packages;
3. imports the manifest's modules inside ``registry.capture()``, collecting registrations
   into a fresh ``Registry``;
4. removes both from ``sys.path`` and takes every newly imported module that came from the
   deployment (by top-level name or by file location under ``src`` or ``deps``) back out of
   ``sys.modules``, keeping them in ``LoadedDeployment.modules``.

Each of its ``isolation="thread"`` steps is then run inside ``reading_secrets(scope)``
(``authoring.secrets``): ``ws.secret`` in it reads that deployment's declared secrets, and
no other deployment's declarations count. The wrapper replaces ``StepDef.fn`` in place, so
the step runs inside it whether a workflow calls it inline or the queue dispatches it.

The loaded function objects keep references to their own module globals, so calling them
later uses that deployment's code and its module-level imports, whichever deployment is loaded
next. A run therefore never executes with another deployment's code, provided it calls what
the registry returned.

Limits (documented for workflow authors):

- Imports done lazily inside functions at run time (``import myapp.helpers`` or
  ``from . import x`` inside a step) do not see the deployment's ``src`` any more; they fail
  with ImportError or could resolve to a same-named module of the host. Import at module level.
- Dependencies are isolated the same way, so the same lazy-import rule holds for them: a
  library that imports its own submodules inside functions after the deployment loaded
  fails with ImportError (or gets the worker's copy, if the worker has one). Libraries the
  deployment does not ship are the worker's own, shared by every deployment.
- While a deployment loads, its dependencies' names are missing from ``sys.modules`` for the
  worker's other threads; one of them importing such a module lazily in that window could
  get the deployment's copy.
- ``pickle`` and anything else that re-imports by module name cannot find deployment modules.
- Module-level side effects (threads, global registries in libraries) run once per deployment
  per process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workflow_studio.authoring.registry import Registry, StepDef, capture
from workflow_studio.authoring.secrets import SecretScope, SecretSource, reading_secrets
from workflow_studio.compute.ids import parse_id
from workflow_studio.compute.manifest import Manifest, ManifestError, parse_manifest
from workflow_studio.engine.runner import CodeUnavailable

MANIFEST_FILE = "manifest.json"
SOURCE_DIR = "src"
DEPS_DIR = "deps"

# Fetches a deployment's files onto this node, e.g. from PostgreSQL: (root, id) -> None.
Fetcher = Callable[[Path, str], None]


class DeploymentLoadError(CodeUnavailable):
    """The deployment's code is missing on this node or does not import.

    ``permanent`` (the default) names a reason that retrying cannot fix: not a deployment
    id, no stored artifact, an artifact or manifest that does not verify, code that does not
    import or lacks a workflow; the engine fails the run. Files missing or unreadable on
    this node are not (``permanent=False``): the engine releases the run with a backoff."""


@dataclasses.dataclass
class LoadedDeployment:
    id: str
    root: Path          # the unpacked artifact directory (<artifact_dir>/<dpl_id>)
    registry: Registry  # that deployment's workflows and steps
    manifest: Manifest | None = None
    modules: dict[str, types.ModuleType] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def source_dir(self) -> Path:
        return self.root / SOURCE_DIR

    @property
    def deps_dir(self) -> Path:
        return self.root / DEPS_DIR


class _NoSecrets:
    """The source of a loader made without a store (tools, tests): nothing is set."""

    def read(self, name: str) -> str | None:
        return None


# The one piece of process-wide state here, on purpose: ``sys.modules`` and ``sys.path`` are
# process-wide, so every loader in the process (one per app) must import under one lock.
IMPORT_LOCK = threading.RLock()


def ensure_unpacked(artifact_root: str | Path, deployment_id: str,
                    fetch: Fetcher | None = None) -> Path:
    """The deployment's directory on this node; ``fetch`` it first when it is missing."""
    if parse_id(deployment_id, "dpl") is None:
        raise DeploymentLoadError(f"{deployment_id!r} is not a deployment id")
    root = Path(artifact_root).resolve() / deployment_id
    if not (root / MANIFEST_FILE).is_file() and fetch is not None:
        fetch(Path(artifact_root), deployment_id)
    if not (root / MANIFEST_FILE).is_file() or not (root / SOURCE_DIR).is_dir():
        raise DeploymentLoadError(f"deployment {deployment_id} is not unpacked on this node "
                                  f"(expected {root})", permanent=False)
    return root


def read_unpacked_manifest(root: Path) -> Manifest:
    try:
        return parse_manifest((root / MANIFEST_FILE).read_bytes())
    except OSError as exc:
        raise DeploymentLoadError(f"{root / MANIFEST_FILE}: {exc}", permanent=False) from None
    except ManifestError as exc:
        raise DeploymentLoadError(f"{root / MANIFEST_FILE}: {exc}") from None


def load_deployment(artifact_root: str | Path, deployment_id: str,
                    fetch: Fetcher | None = None,
                    secrets: SecretSource | None = None) -> LoadedDeployment:
    """Import ``deployment_id`` into this process afresh (no cache: see ``DeploymentLoader``);
    its steps read secrets from ``secrets``."""
    with IMPORT_LOCK:
        root = ensure_unpacked(artifact_root, deployment_id, fetch)
        return _import(deployment_id, root, read_unpacked_manifest(root), secrets)


class DeploymentLoader:
    """This app's loaded deployments: each imported on first use, then cached."""

    def __init__(self, artifact_root: str | Path, fetch: Fetcher | None = None,
                 secrets: SecretSource | None = None) -> None:
        self.artifact_root = Path(artifact_root).resolve()
        self.fetch = fetch
        self.secrets = secrets
        self._cache: dict[str, LoadedDeployment] = {}

    def load(self, deployment_id: str) -> LoadedDeployment:
        cached = self._cache.get(deployment_id)
        if cached is not None:
            return cached
        with IMPORT_LOCK:
            cached = self._cache.get(deployment_id)
            if cached is None:
                cached = load_deployment(self.artifact_root, deployment_id, self.fetch,
                                         self.secrets)
                self._cache[deployment_id] = cached
            return cached

    def forget(self, deployment_id: str | None = None) -> None:
        """Drop cached deployments (all, or one); the next load imports afresh."""
        with IMPORT_LOCK:
            if deployment_id is None:
                self._cache.clear()
            else:
                self._cache.pop(deployment_id, None)


def _owned(name: str, module: object, tops: set[str], dirs: tuple[Path, ...]) -> bool:
    if name.split(".")[0] in tops:
        return True
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    return any(path.is_relative_to(folder) for folder in dirs)


def dependency_tops(deps: Path) -> set[str]:
    """The top-level module names the unpacked wheels in ``deps`` provide."""
    if not deps.is_dir():
        return set()
    tops: set[str] = set()
    for entry in deps.iterdir():
        name = entry.name
        if entry.is_dir() and name.isidentifier():
            tops.add(name)
        elif entry.is_file() and name.endswith((".py", ".so", ".pyd")):
            stem = name.split(".")[0]
            if stem.isidentifier():
                tops.add(stem)
    return tops


def _scoped(fn: Callable[..., Any], scope: SecretScope) -> Callable[..., Any]:
    @functools.wraps(fn)
    def step_reading_secrets(*args: Any, **kwargs: Any) -> Any:
        with reading_secrets(scope):
            return fn(*args, **kwargs)
    return step_reading_secrets


def _scope_steps(steps: dict[str, StepDef], deployment_id: str, manifest: Manifest,
                 secrets: SecretSource | None) -> None:
    """Run every thread step of the deployment inside its secret scope (see the module
    docstring); a deployment that declares nothing gets a scope too, so ``ws.secret`` there
    is refused instead of reading the worker process's environment."""
    scope = SecretScope(deployment_id, frozenset(manifest.secret_names),
                        secrets if secrets is not None else _NoSecrets(),
                        frozenset(s.name for s in manifest.secrets if s.as_env))
    for definition in steps.values():
        # A process step's child imports the step afresh and never calls this ``fn``.
        if definition.isolation == "thread":
            definition.fn = _scoped(definition.fn, scope)


def _import(deployment_id: str, root: Path, manifest: Manifest,
            secrets: SecretSource | None = None) -> LoadedDeployment:
    """Import the manifest's modules from ``root/src`` (and its dependencies from
    ``root/deps``) in isolation (see module docstring)."""
    src = (root / SOURCE_DIR).resolve()
    deps = (root / DEPS_DIR).resolve()
    tops = {m.split(".")[0] for m in manifest.modules} | dependency_tops(deps)
    hosts = {n: m for n, m in sys.modules.items() if n.split(".")[0] in tops}
    for name in hosts:
        del sys.modules[name]
    before = set(sys.modules)
    sys.path.insert(0, str(src))
    if deps.is_dir():
        sys.path.insert(1, str(deps))
    importlib.invalidate_caches()
    try:
        with capture() as registry:
            for name in manifest.modules:
                importlib.import_module(name)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise DeploymentLoadError(f"deployment {deployment_id} does not import: "
                                  f"{type(exc).__name__}: {exc}") from exc
    finally:
        for folder in (str(src), str(deps)):
            if folder in sys.path:
                sys.path.remove(folder)
        owned = {n: sys.modules[n] for n in set(sys.modules) - before
                 if _owned(n, sys.modules[n], tops, (src, deps))}
        for name in owned:
            sys.modules.pop(name, None)
        sys.modules.update(hosts)
        importlib.invalidate_caches()
    missing = sorted(set(manifest.workflows) - set(registry.workflows))
    if missing:
        raise DeploymentLoadError(f"deployment {deployment_id} does not register the "
                                  f"workflows {', '.join(missing)}")
    _scope_steps(registry.steps, deployment_id, manifest, secrets)
    return LoadedDeployment(deployment_id, root, registry, manifest, owned)

"""``build_project``: workflow_config.py in, ``artifact.tar.gz`` + ``manifest.json`` out.

The configured ``workflows`` modules are imported in a clean subprocess (see ``collect``); the
top-level package of each is packaged whole, so helper modules beside the workflows ship too.
The project's ``requirements`` are resolved into wheels first (``requirements``), unpacked
and put on that subprocess's path, so "it builds" proves the code imports with exactly what
ships; the manifest lists each distribution and the ``secrets`` the project declares.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflow_studio.builder.archive import ArchiveError, source_files, write_tarball
from workflow_studio.builder.collect import CollectError, run_collect
from workflow_studio.builder.requirements import RequirementsError, Resolved, resolve
from workflow_studio.compute.manifest import FORMAT_VERSION, Manifest, SecretRef
from workflow_studio.config.settings import (
    CONFIG_FILENAME,
    ConfigError,
    find_config_file,
    read_config_file,
)

ARTIFACT_NAME = "artifact.tar.gz"
MANIFEST_NAME = "manifest.json"
DEFAULT_OUT = ".workflow-studio/build"
COLLECT_TIMEOUT = 120.0


class BuildError(Exception):
    """The project cannot be built; the message says why (and where, for import errors)."""


@dataclasses.dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    artifact_path: Path
    manifest_path: Path


def _project(config_path: str | None) -> tuple[Path, dict[str, Any]]:
    try:
        path = find_config_file(config_path)
        if path is None:
            raise BuildError(f"no {CONFIG_FILENAME} in {Path.cwd()}; create one with "
                             "config = define_config(workflows=['your_package'])")
        values = dict(read_config_file(path).values)
    except ConfigError as exc:
        raise BuildError(str(exc)) from None
    if not values.get("workflows"):
        raise BuildError(f"{path.name}: `workflows` is empty; list the packages that define "
                         "your @workflow and @step functions")
    return path.parent, values


def project_modules(config_path: str | None = None) -> tuple[Path, tuple[str, ...]]:
    """The project directory and its configured ``workflows`` modules."""
    root, values = _project(config_path)
    return root, tuple(values["workflows"])


def build_project(config_path: str | None = None, out_dir: str | Path | None = None,
                  *, no_deps: bool = False) -> BuildResult:
    """Build the project whose config is ``config_path`` (default ./workflow_config.py).
    ``no_deps``: ship no ``requirements`` (the worker's own packages serve the imports)."""
    root, values = _project(config_path)
    modules = tuple(values["workflows"])
    with tempfile.TemporaryDirectory(prefix="workflow-studio-build-") as work:
        resolved = Resolved((), ())
        if not no_deps and values.get("requirements"):
            try:
                resolved = resolve(values["requirements"], root, Path(work),
                                   tuple(values.get("build_find_links", ())),
                                   bool(values.get("build_no_index", False)))
            except RequirementsError as exc:
                raise BuildError(f"cannot resolve the requirements: {exc}") from None
        paths = [str(Path(work) / "site")] if resolved.files else []
        try:
            found = run_collect(root, modules, timeout=COLLECT_TIMEOUT, paths=paths)
        except CollectError as exc:
            raise BuildError(f"cannot import the workflow modules: {exc}") from None
        if not found["workflows"]:
            raise BuildError(f"no @workflow functions registered by {', '.join(modules)}")
        out = Path(out_dir) if out_dir else root / DEFAULT_OUT
        if not out.is_absolute():
            out = Path.cwd() / out
        artifact = out / ARTIFACT_NAME
        try:
            files, digest, size = write_tarball(root, source_files(root, found["sources"]),
                                                artifact, resolved.files)
        except ArchiveError as exc:
            raise BuildError(str(exc)) from None
    secrets: tuple[SecretRef, ...] = tuple(values.get("secrets", ()))
    manifest = Manifest(
        files=tuple(files), artifact_sha256=digest, artifact_size=size, modules=modules,
        workflows=tuple(found["workflows"]), steps=tuple(found["steps"]),
        python_version=platform.python_version(),
        built_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        format_version=FORMAT_VERSION, distributions=resolved.distributions, secrets=secrets,
        schedules=tuple(dict(s) for s in values.get("schedules", ())),
    )
    manifest_path = out / MANIFEST_NAME
    manifest_path.write_text(manifest.to_json(), encoding="utf-8")
    return BuildResult(manifest, artifact, manifest_path)

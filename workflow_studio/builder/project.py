"""``build_project``: workflow_config.py in, ``artifact.tar.gz`` + ``manifest.json`` out.

The configured ``workflows`` modules are imported in a clean subprocess (see ``collect``); the
top-level package of each is packaged whole, so helper modules beside the workflows ship too.
"""

from __future__ import annotations

import dataclasses
import platform
from datetime import UTC, datetime
from pathlib import Path

from workflow_studio.builder.archive import ArchiveError, source_files, write_tarball
from workflow_studio.builder.collect import CollectError, run_collect
from workflow_studio.compute.manifest import FORMAT_VERSION, Manifest
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


def project_modules(config_path: str | None = None) -> tuple[Path, tuple[str, ...]]:
    """The project directory and its configured ``workflows`` modules."""
    try:
        path = find_config_file(config_path)
        if path is None:
            raise BuildError(f"no {CONFIG_FILENAME} in {Path.cwd()}; create one with "
                             "config = define_config(workflows=['your_package'])")
        modules = tuple(read_config_file(path).values.get("workflows", ()))
    except ConfigError as exc:
        raise BuildError(str(exc)) from None
    if not modules:
        raise BuildError(f"{path.name}: `workflows` is empty; list the packages that define "
                         "your @workflow and @step functions")
    return path.parent, modules


def build_project(config_path: str | None = None, out_dir: str | Path | None = None
                  ) -> BuildResult:
    """Build the project whose config is ``config_path`` (default ./workflow_config.py)."""
    root, modules = project_modules(config_path)
    try:
        found = run_collect(root, modules, timeout=COLLECT_TIMEOUT)
    except CollectError as exc:
        raise BuildError(f"cannot import the workflow modules: {exc}") from None
    if not found["workflows"]:
        raise BuildError(f"no @workflow functions registered by {', '.join(modules)}")
    out = Path(out_dir) if out_dir else root / DEFAULT_OUT
    if not out.is_absolute():
        out = Path.cwd() / out
    artifact = out / ARTIFACT_NAME
    try:
        files, digest, size = write_tarball(root, source_files(root, found["sources"]), artifact)
    except ArchiveError as exc:
        raise BuildError(str(exc)) from None
    manifest = Manifest(
        files=tuple(files), artifact_sha256=digest, artifact_size=size, modules=modules,
        workflows=tuple(found["workflows"]), steps=tuple(found["steps"]),
        python_version=platform.python_version(),
        built_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        format_version=FORMAT_VERSION,
    )
    manifest_path = out / MANIFEST_NAME
    manifest_path.write_text(manifest.to_json(), encoding="utf-8")
    return BuildResult(manifest, artifact, manifest_path)

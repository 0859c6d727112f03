"""The deployment manifest: what ``workflow-studio build`` writes and the worker verifies.

The manifest travels beside the tarball (never inside it), so the tarball's bytes depend only
on the sources and builds stay reproducible while ``built_at`` still records the build time.
Both sides parse it here: the builder to round-trip what it wrote, the worker to reject a
malformed or hostile manifest before it looks at the artifact. Every problem is a
``ManifestError`` carrying the envelope code and a message that names the offending field.

A deployment's environment travels here too: ``distributions`` (the third-party packages
shipped under ``DEPENDENCY_PREFIX`` in the tarball, as files verified like any other) and
``secrets`` (the named secrets its steps read with ``ws.secret``; names only, never values).
Both are optional, so a manifest from before them still parses (as empty); so is
``schedules`` (``define_config(schedules=...)``, reconciled when the deployment activates).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import PurePosixPath
from typing import Any, TypeVar

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_PATH_LENGTH = 400
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A secret's name: an environment variable's name too (``as_env``) and a safe URL segment.
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,99}$")
_WHEEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}\.whl$")
# Tarball members under this prefix are the deployment's dependencies (unpacked wheels); the
# worker puts them in ``<dpl_id>/deps``, beside ``src``. No package can be called ``.deps``.
DEPENDENCY_PREFIX = ".deps/"
MAX_SCHEDULES = 1000
_T = TypeVar("_T")


class ManifestError(Exception):
    """The manifest (or the artifact measured against it) is not acceptable."""

    def __init__(self, message: str, code: str = "invalid_manifest") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A third-party package shipped in the artifact: its name, version and the wheel it
    came from (with that wheel's sha256, for provenance: its files are listed one by one)."""

    name: str
    version: str
    wheel: str
    sha256: str


@dataclasses.dataclass(frozen=True)
class SecretRef:
    """A named secret the deployment declares; ``as_env``: its steps also see it as an
    environment variable of that name."""

    name: str
    as_env: bool = False


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A parsed, validated manifest. ``modules`` are what the loader imports."""

    files: tuple[ManifestFile, ...]
    artifact_sha256: str
    artifact_size: int
    modules: tuple[str, ...]
    workflows: tuple[str, ...]
    steps: tuple[str, ...]
    python_version: str
    built_at: str
    format_version: int = FORMAT_VERSION
    distributions: tuple[Distribution, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    # define_config(schedules=...), in the API's shape; activation reconciles them
    schedules: tuple[dict[str, Any], ...] = ()

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.secrets)

    def file_map(self) -> dict[str, ManifestFile]:
        return {f.path: f for f in self.files}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "artifact_sha256": self.artifact_sha256,
            "artifact_size": self.artifact_size,
            "modules": list(self.modules),
            "workflows": list(self.workflows),
            "steps": list(self.steps),
            "python_version": self.python_version,
            "built_at": self.built_at,
            "files": [dataclasses.asdict(f) for f in self.files],
            "distributions": [dataclasses.asdict(d) for d in self.distributions],
            "secrets": [dataclasses.asdict(s) for s in self.secrets],
            **({"schedules": [dict(s) for s in self.schedules]} if self.schedules else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def unsafe_path_reason(path: str) -> str | None:
    """Why ``path`` may not be an artifact member path, or None when it is safe.

    Safe means: relative, POSIX separators, no ``.``/``..``/empty components, printable, and
    short enough; such a path can only ever name a file inside the unpack directory.
    """
    if not path:
        return "empty path"
    if len(path) > MAX_PATH_LENGTH:
        return f"path longer than {MAX_PATH_LENGTH} characters"
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        return "control character in path"
    if "\\" in path:
        return "backslash in path"
    if path.startswith("/"):
        return "absolute path"
    parts = path.split("/")
    if ".." in parts:
        return "'..' in path"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path component"
    if PurePosixPath(path).is_absolute():
        return "absolute path"
    return None


def _require(data: dict[str, Any], name: str, kind: type[_T]) -> _T:
    if name not in data:
        raise ManifestError(f"manifest field {name!r} is missing")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ManifestError(f"manifest field {name!r} has the wrong type")
    return value


def _names(data: dict[str, Any], field: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    values = _require(data, field, list)
    if not all(isinstance(v, str) and pattern.match(v) for v in values):
        raise ManifestError(f"manifest field {field!r} must be a list of valid names")
    if len(set(values)) != len(values):
        raise ManifestError(f"manifest field {field!r} lists a name twice")
    return tuple(values)


def _file(index: int, item: Any) -> ManifestFile:
    where = f"manifest files[{index}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be an object with path, size and sha256")
    path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
    if not isinstance(path, str):
        raise ManifestError(f"{where}.path must be a string")
    reason = unsafe_path_reason(path)
    if reason:
        raise ManifestError(f"{where}.path {path!r} is not allowed: {reason}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{where}.size must be a non-negative integer")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ManifestError(f"{where}.sha256 must be 64 lowercase hex digits")
    return ManifestFile(path, size, digest)


def _distributions(data: dict[str, Any]) -> tuple[Distribution, ...]:
    items = data.get("distributions", [])
    if not isinstance(items, list):
        raise ManifestError("manifest field 'distributions' has the wrong type")
    found: list[Distribution] = []
    for index, item in enumerate(items):
        where = f"manifest distributions[{index}]"
        if not isinstance(item, dict):
            raise ManifestError(f"{where} must be an object with name, version, wheel, sha256")
        name, version = item.get("name"), item.get("version")
        wheel, digest = item.get("wheel"), item.get("sha256")
        if not isinstance(name, str) or not _DISTRIBUTION.match(name):
            raise ManifestError(f"{where}.name must be a distribution name")
        if not isinstance(version, str) or not _VERSION.match(version):
            raise ManifestError(f"{where}.version must be a version string")
        if not isinstance(wheel, str) or not _WHEEL.match(wheel):
            raise ManifestError(f"{where}.wheel must be a wheel file name")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ManifestError(f"{where}.sha256 must be 64 lowercase hex digits")
        found.append(Distribution(name, version, wheel, digest))
    if len({d.name.lower() for d in found}) != len(found):
        raise ManifestError("manifest field 'distributions' lists a distribution twice")
    return tuple(found)


def _secrets(data: dict[str, Any]) -> tuple[SecretRef, ...]:
    items = data.get("secrets", [])
    if not isinstance(items, list):
        raise ManifestError("manifest field 'secrets' has the wrong type")
    found: list[SecretRef] = []
    for index, item in enumerate(items):
        where = f"manifest secrets[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not SECRET_NAME.match(item["name"]):
            raise ManifestError(f"{where} must be an object whose name matches "
                                f"{SECRET_NAME.pattern}")
        as_env = item.get("as_env", False)
        if not isinstance(as_env, bool):
            raise ManifestError(f"{where}.as_env must be true or false")
        found.append(SecretRef(item["name"], as_env))
    if len({s.name for s in found}) != len(found):
        raise ManifestError("manifest field 'secrets' lists a name twice")
    return tuple(found)


def _schedules(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Their shape only: the worker checks each definition whole when it activates."""
    items = data.get("schedules", [])
    if not isinstance(items, list) or len(items) > MAX_SCHEDULES:
        raise ManifestError(f"manifest field 'schedules' must be a list of at most "
                            f"{MAX_SCHEDULES} objects")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ManifestError(f"manifest schedules[{index}] must be an object with a name")
    return tuple(items)


def parse_manifest(raw: bytes | str | dict[str, Any]) -> Manifest:
    """Parse and validate manifest JSON; raise ``ManifestError`` naming what is wrong."""
    if isinstance(raw, bytes | str):
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ManifestError("manifest is not valid JSON") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise ManifestError("manifest must be a JSON object")
    version = _require(data, "format_version", int)
    if version != FORMAT_VERSION:
        raise ManifestError(
            f"manifest format_version {version} is not supported (expected {FORMAT_VERSION})")
    digest = _require(data, "artifact_sha256", str)
    if not _SHA256.match(digest):
        raise ManifestError("manifest field 'artifact_sha256' must be 64 lowercase hex digits")
    size = _require(data, "artifact_size", int)
    if size < 0:
        raise ManifestError("manifest field 'artifact_size' must not be negative")
    files = tuple(_file(i, item) for i, item in enumerate(_require(data, "files", list)))
    seen: set[str] = set()
    for entry in files:
        if entry.path in seen:
            raise ManifestError(f"manifest lists the file {entry.path!r} twice")
        seen.add(entry.path)
    modules = _names(data, "modules", _MODULE)
    if not modules:
        raise ManifestError("manifest field 'modules' must name at least one module")
    return Manifest(
        files=files, artifact_sha256=digest, artifact_size=size, modules=modules,
        workflows=_names(data, "workflows", _NAME), steps=_names(data, "steps", _NAME),
        python_version=str(_require(data, "python_version", str)),
        built_at=str(_require(data, "built_at", str)), format_version=version,
        distributions=_distributions(data), secrets=_secrets(data),
        schedules=_schedules(data),
    )

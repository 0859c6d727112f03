"""A project's ``requirements``, resolved by pip into wheels and unpacked for the artifact.

``resolve`` runs ``pip download --only-binary=:all:`` with the interpreter that builds (so
for its Python version and platform: build with the worker's Python), from the package index
and ``build.find_links`` (only those with ``build.no_index``). Only wheels: pip then never
runs a package's ``setup.py`` on the build machine, and what ships is what pip's tags say
runs there, pure-Python or manylinux. A requirement with no such wheel (an sdist that needs
building, usually a compiler) is a ``BuildError`` naming it.

Each wheel is unpacked (its ``.data/purelib`` and ``platlib`` merged in, scripts and data
dropped; no links, no unsafe names) into one directory that becomes the artifact's
``.deps/`` members, each listed in the manifest with its size and sha256 like any source
file. ``workflow-studio`` itself is never shipped: the worker's copy runs every deployment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from workflow_studio.compute.manifest import DEPENDENCY_PREFIX, Distribution, unsafe_path_reason

PIP_TIMEOUT = 600.0
_OURS = re.compile(r"^\s*workflow[-_.]studio(\s|\[|[<>=!~;@]|$)", re.IGNORECASE)
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_INCLUDE = re.compile(r"^\s*(-r|--requirement|-c|--constraint)(\s*=\s*|\s+)(\S+)\s*$")
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SKIPPED = ("__pycache__",)


class RequirementsError(Exception):
    """The requirements cannot be resolved into shippable wheels; the message says which."""


@dataclasses.dataclass(frozen=True)
class Resolved:
    distributions: tuple[Distribution, ...]
    files: tuple[tuple[str, Path], ...]  # (artifact member name under .deps/, file)


def _lines(requirements: tuple[str, ...] | str, root: Path) -> list[str]:
    """The requirement lines to give pip, without ``workflow-studio``; a file's includes
    become absolute paths (the lines are written elsewhere)."""
    if not isinstance(requirements, str):
        return [r for r in requirements if not _OURS.match(r)]
    path = (root / requirements).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RequirementsError(f"requirements file {requirements}: cannot be read "
                                f"({exc.strerror})") from None
    lines = []
    for line in text.splitlines():
        include = _INCLUDE.match(line)
        if include:
            line = f"{include.group(1)} {(path.parent / include.group(3)).resolve()}"
        elif _OURS.match(line):
            continue
        lines.append(line)
    return lines


def _pip(lines: list[str], dest: Path, find_links: list[str], no_index: bool) -> None:
    request = dest.parent / "requirements.txt"
    request.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [sys.executable, "-m", "pip", "download", "--dest", str(dest),
            "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
            "--progress-bar", "off", "-r", str(request)]
    for link in find_links:
        argv += ["--find-links", link]
    if no_index:
        argv.append("--no-index")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PIP_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RequirementsError(f"pip did not resolve the requirements within "
                                f"{PIP_TIMEOUT:g} s") from None
    if done.returncode == 0:
        return
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    missing = _NO_MATCH.search(output)
    if missing:
        where = "in build.find_links" if no_index else "on the package index or in " \
                                                          "build.find_links"
        raise RequirementsError(
            f"requirement {missing.group(1)}: no wheel for Python "
            f"{sys.version_info.major}.{sys.version_info.minor} on this platform {where}. "
            "Only wheels ship in a deployment (pure-Python or manylinux); a package that "
            "only has an sdist needs building, often with a compiler: build its wheel and "
            "put it in a build.find_links directory")
    tail = [line for line in output.strip().splitlines() if line.strip()][-5:]
    raise RequirementsError(f"pip could not resolve the requirements (exit status "
                            f"{done.returncode}): {' | '.join(tail)}")


def _member_target(name: str) -> str | None:
    """Where a wheel member goes below ``.deps/`` (None: not shipped)."""
    parts = PurePosixPath(name).parts
    if parts and parts[0].endswith(".data"):
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return "/".join(parts[2:])
        return None  # scripts, headers, data: not importable
    if any(p in _SKIPPED for p in parts) or name.endswith((".pyc", ".pyo")):
        return None
    return name


def _unpack(wheel: Path, staging: Path, owners: dict[str, str]) -> None:
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise RequirementsError(f"{wheel.name}: not a readable wheel ({exc})") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise RequirementsError(f"{wheel.name}: member {info.filename!r} is a link")
            reason = unsafe_path_reason(info.filename)
            if reason:
                raise RequirementsError(f"{wheel.name}: member {info.filename!r} is not "
                                        f"allowed ({reason})")
            target = _member_target(info.filename)
            if target is None:
                continue
            data = archive.read(info)
            path = staging.joinpath(*target.split("/"))
            if target in owners:
                if path.read_bytes() != data:
                    raise RequirementsError(f"{wheel.name} and {owners[target]} both ship "
                                            f"{target}, with different contents")
                continue
            owners[target] = wheel.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def resolve(requirements: tuple[str, ...] | str, root: Path, work: Path,
            find_links: tuple[str, ...] = (), no_index: bool = False) -> Resolved:
    """Download and unpack the wheels ``requirements`` resolve to, inside ``work``."""
    lines = _lines(requirements, root)
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        return Resolved((), ())
    links = [link if "://" in link else str((root / link).resolve()) for link in find_links]
    wheels, staging = work / "wheels", work / "site"
    wheels.mkdir(parents=True)
    staging.mkdir()
    _pip(lines, wheels, links, no_index)
    distributions: list[Distribution] = []
    owners: dict[str, str] = {}
    for wheel in sorted(wheels.iterdir()):
        match = _WHEEL_NAME.match(wheel.name)
        if match is None:
            raise RequirementsError(f"{wheel.name}: pip fetched something that is not a wheel")
        if re.sub(r"[-_.]+", "-", match["name"]).lower() == "workflow-studio":
            continue  # a dependency's dependency: the worker's own copy runs
        _unpack(wheel, staging, owners)
        distributions.append(Distribution(
            match["name"], match["version"], wheel.name,
            hashlib.sha256(wheel.read_bytes()).hexdigest()))
    files = tuple(sorted((DEPENDENCY_PREFIX + rel, staging / rel) for rel in owners))
    return Resolved(tuple(sorted(distributions, key=lambda d: d.name.lower())), files)

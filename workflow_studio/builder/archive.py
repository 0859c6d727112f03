"""The reproducible tarball: same source files in, same bytes out.

Members are sorted, carry fixed metadata (mtime 0, uid/gid 0, no owner names, mode 0644) and
are regular files only; the gzip header has mtime 0 and no file name. Nothing about the build
machine or the build time reaches the bytes, so two builds of one commit have one sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

from workflow_studio.compute.manifest import ManifestFile, unsafe_path_reason

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class ArchiveError(Exception):
    """A source file cannot go into an artifact (unsafe name, unreadable)."""


def source_files(root: Path, sources: Iterable[str]) -> list[str]:
    """Project-relative POSIX paths of every file in ``sources`` (dirs walked), sorted."""
    found: set[str] = set()
    for source in sources:
        path = root / source
        if path.is_file():
            found.add(Path(source).as_posix())
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            for name in files:
                if name.startswith(".") or name.endswith(SKIPPED_SUFFIXES):
                    continue
                full = Path(folder) / name
                if full.is_file():  # skips sockets, FIFOs and dangling links
                    found.add(full.relative_to(root).as_posix())
    return sorted(found)


def write_tarball(root: Path, paths: list[str], out: Path,
                  extra: Iterable[tuple[str, Path]] = ()) -> tuple[list[ManifestFile], str, int]:
    """Write ``paths`` (relative to ``root``), and each ``extra`` (member name, file), to
    ``out``; return (files, sha256, size)."""
    members = {rel: root / rel for rel in paths}
    for name, file in extra:
        if name in members:
            raise ArchiveError(f"{name}: packaged twice")
        members[name] = file
    entries: list[ManifestFile] = []
    raw = io.BytesIO()
    # filename="" keeps the output name out of the gzip header; mtime=0 keeps the time out.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(members):
            reason = unsafe_path_reason(rel)
            if reason:
                raise ArchiveError(f"{rel}: cannot be packaged ({reason})")
            try:
                data = members[rel].read_bytes()  # follows a symlink: the artifact has no links
            except OSError as exc:
                raise ArchiveError(f"{rel}: cannot be read ({exc.strerror})") from None
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
            entries.append(ManifestFile(rel, len(data), hashlib.sha256(data).hexdigest()))
    blob = raw.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(blob)
    os.replace(tmp, out)
    return entries, hashlib.sha256(blob).hexdigest(), len(blob)

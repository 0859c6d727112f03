"""Verify an uploaded artifact against its manifest while unpacking it, safely.

Nothing lands in place until everything checked out: members stream into a fresh
``.incoming-*`` directory inside artifact_dir, which is renamed to ``<dpl_id>`` in one atomic
step only after the last check. Any failure removes that directory and raises
``ArtifactRejected`` with a 400 code of the invalid_manifest family and a message saying what
did not match.

Rules, in order: manifest well-formed; artifact within the size cap and exactly as large as
declared; gzip magic; whole-artifact sha256; then per member while streaming: a plain regular
file (no links, devices, FIFOs, directories, sparse files), a safe relative path, listed in the
manifest, seen once, the declared size, within the member-count and unpacked-bytes caps, and
the declared sha256; finally every listed file present. Decompression is metered, so a gzip
bomb (or a huge tar header) stops at the cap instead of filling memory or disk.

A deployment's dependencies (the unpacked wheels ``workflow-studio build`` ships) are members
like any other, under ``.deps/``: every rule and cap above applies to them, and they land in
``<dpl_id>/deps`` instead of ``<dpl_id>/src``, so the loader can give them their own place
on the deployment's import path.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import IO

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.manifest import (
    DEPENDENCY_PREFIX,
    Manifest,
    ManifestError,
    parse_manifest,
)
from workflow_studio.compute.manifest import unsafe_path_reason as _unsafe

CHUNK = 64 * 1024
INCOMING_PREFIX = ".incoming-"
# Tar headers, padding and end blocks on top of the member bytes themselves.
_TAR_OVERHEAD_PER_MEMBER = 3 * 512 + 4096
_PLAIN_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)


class ArtifactRejected(Exception):
    """The upload failed verification; ``code`` is the envelope code (both are HTTP 400)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_ARTIFACT) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclasses.dataclass(frozen=True)
class Limits:
    max_artifact_bytes: int
    max_unpacked_bytes: int
    max_files: int


@dataclasses.dataclass(frozen=True)
class Verified:
    manifest: Manifest
    manifest_raw: bytes
    path: Path  # the final <artifact_dir>/<dpl_id> directory


class _MeteredReader:
    """A read-only stream that refuses to yield more than ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def read(self, size: int = -1) -> bytes:
        want = self.limit - self.count + 1 if size is None or size < 0 else size
        data = self.inner.read(min(want, self.limit - self.count + 1))
        self.count += len(data)
        if self.count > self.limit:
            raise ArtifactRejected(
                f"artifact unpacks to more than {self.limit} bytes of tar data "
                "(unpacked-size cap exceeded)")
        return data


def _mismatch(message: str) -> ArtifactRejected:
    return ArtifactRejected(message, ErrorCode.INVALID_MANIFEST)


def _digest(stream: IO[bytes]) -> tuple[str, int]:
    stream.seek(0)
    h, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return h.hexdigest(), size


def _check_artifact(manifest: Manifest, artifact: IO[bytes], limits: Limits) -> None:
    artifact.seek(0, os.SEEK_END)
    size = artifact.tell()
    if size > limits.max_artifact_bytes:
        raise ArtifactRejected(
            f"artifact is {size} bytes; this worker accepts at most {limits.max_artifact_bytes}")
    if size != manifest.artifact_size:
        raise _mismatch(f"artifact is {size} bytes but the manifest says "
                        f"artifact_size {manifest.artifact_size}")
    artifact.seek(0)
    if artifact.read(2) != b"\x1f\x8b":
        raise ArtifactRejected("artifact is not a gzip file (expected a .tar.gz)")
    digest, _ = _digest(artifact)
    if digest != manifest.artifact_sha256:
        raise _mismatch(f"artifact sha256 is {digest} but the manifest says "
                        f"{manifest.artifact_sha256}")


def _member_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym() or member.islnk():
        return "is a link"
    if member.ischr() or member.isblk():
        return "is a device node"
    if member.isfifo():
        return "is a FIFO"
    if member.isdir():
        return "is a directory entry (only regular files are allowed)"
    if member.type not in _PLAIN_FILE_TYPES or member.issparse():
        return f"has unsupported tar type {member.type!r}"
    return None


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Stream one member's bytes to ``target`` (a new file); return their sha256."""
    source = tar.extractfile(member)
    if source is None:
        raise ArtifactRejected(f"member {member.name!r} has no data")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL|O_NOFOLLOW: never write through something that already exists.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError:
        raise ArtifactRejected(f"member {member.name!r} conflicts with another member's "
                               "path") from None
    h, written = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > member.size:
                raise ArtifactRejected(f"member {member.name!r} is longer than its header")
            h.update(chunk)
            out.write(chunk)
    if written != member.size:
        raise ArtifactRejected(f"member {member.name!r} is truncated")
    return h.hexdigest()


def _target(dest: Path, name: str) -> Path:
    """Where member ``name`` (a safe path) is written: ``deps/...`` for a dependency's file,
    ``src/...`` for everything else."""
    if name.startswith(DEPENDENCY_PREFIX):
        return dest.joinpath("deps", *name[len(DEPENDENCY_PREFIX):].split("/"))
    return dest.joinpath("src", *name.split("/"))


def _unpack(manifest: Manifest, artifact: IO[bytes], dest: Path, limits: Limits) -> None:
    listed = manifest.file_map()
    seen: set[str] = set()
    total = count = 0
    artifact.seek(0)
    budget = limits.max_unpacked_bytes + _TAR_OVERHEAD_PER_MEMBER * (limits.max_files + 1)
    stream = _MeteredReader(gzip.GzipFile(fileobj=artifact, mode="rb"), budget)
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            count += 1
            if count > limits.max_files:
                raise ArtifactRejected(
                    f"artifact has more than {limits.max_files} members (member-count cap)")
            name = member.name
            reason = _unsafe(name)
            if reason:
                raise ArtifactRejected(f"member {name!r} is not allowed: {reason}")
            problem = _member_problem(member)
            if problem:
                raise ArtifactRejected(f"member {name!r} {problem}")
            if name in seen:
                raise ArtifactRejected(f"member {name!r} appears more than once")
            seen.add(name)
            entry = listed.get(name)
            if entry is None:
                raise _mismatch(f"member {name!r} is not listed in the manifest")
            if member.size != entry.size:
                raise _mismatch(f"member {name!r} is {member.size} bytes but the manifest "
                                f"says {entry.size}")
            total += member.size
            if total > limits.max_unpacked_bytes:
                raise ArtifactRejected(f"artifact unpacks to more than "
                                       f"{limits.max_unpacked_bytes} bytes (unpacked-size cap)")
            digest = _write_member(tar, member, _target(dest, name))
            if digest != entry.sha256:
                raise _mismatch(f"member {name!r} has sha256 {digest} but the manifest says "
                                f"{entry.sha256}")
    missing = sorted(set(listed) - seen)
    if missing:
        raise _mismatch(f"manifest lists {len(missing)} file(s) missing from the artifact, "
                        f"e.g. {missing[0]!r}")


def read_manifest(raw: bytes) -> Manifest:
    try:
        return parse_manifest(raw)
    except ManifestError as exc:
        raise ArtifactRejected(exc.message, ErrorCode(exc.code)) from None


def verify_and_unpack(manifest_raw: bytes, artifact: IO[bytes], artifact_dir: str | Path,
                      deployment_id: str, limits: Limits) -> Verified:
    """Verify ``artifact`` against the manifest and unpack it to ``artifact_dir/<id>``."""
    manifest = read_manifest(manifest_raw)
    _check_artifact(manifest, artifact, limits)
    base = Path(artifact_dir)
    base.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=INCOMING_PREFIX, dir=base))
    try:
        _unpack(manifest, artifact, incoming, limits)
        (incoming / "src").mkdir(exist_ok=True)  # an artifact may legitimately be tiny
        (incoming / "manifest.json").write_bytes(manifest_raw)
        final = base / deployment_id
        os.rename(incoming, final)  # atomic: the directory appears complete or not at all
    except ArtifactRejected:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        shutil.rmtree(incoming, ignore_errors=True)
        raise ArtifactRejected(f"artifact is truncated or not a valid .tar.gz "
                               f"({type(exc).__name__}: {exc})") from None
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return Verified(manifest, manifest_raw, final)


def remove_unpacked(artifact_dir: str | Path, deployment_id: str) -> None:
    """Delete an unpacked deployment (e.g. when recording it in the database failed)."""
    shutil.rmtree(Path(artifact_dir) / deployment_id, ignore_errors=True)


def sweep_incoming(artifact_dir: str | Path, older_than: float = 3600.0) -> int:
    """Remove ``.incoming-*`` directories a killed upload left behind; returns how many.

    Only old ones: an upload streaming right now (in another process) has a fresh one.
    """
    base = Path(artifact_dir)
    if not base.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for entry in base.glob(f"{INCOMING_PREFIX}*"):
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed

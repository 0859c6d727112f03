"""Test helpers: small projects on disk, hand-made (and hostile) artifacts, uploads."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workflow_studio.builder.project import BuildResult, build_project
from workflow_studio.compute.manifest import FORMAT_VERSION

ADMIN_KEY = "wsk_test_admin_key_0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def write_project(root: Path, files: dict[str, str], modules: Iterable[str]) -> Path:
    """Write ``files`` (path -> source) and a workflow_config.py; return the config path."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    config = root / "workflow_config.py"
    config.write_text("from workflow_studio import define_config\n"
                      f"config = define_config(workflows={list(modules)!r})\n", encoding="utf-8")
    return config


def value_project(root: Path, value: Any, package: str = "shared_app") -> BuildResult:
    """A project whose step ``value`` returns ``value`` through a helper module."""
    config = write_project(root, {
        f"{package}/__init__.py": "",
        f"{package}/helpers.py": f"VALUE = {value!r}\n",
        f"{package}/flows.py": f"""
            from workflow_studio import step, workflow
            from {package}.helpers import VALUE

            @step
            def value():
                return VALUE

            @workflow
            def report():
                return VALUE
            """,
    }, [f"{package}.flows"])
    return build_project(str(config), root / "out")


def member(name: str, data: bytes = b"x = 1\n", kind: bytes = tarfile.REGTYPE,
           **attrs: Any) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data if info.size else None


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], compress: bool = True,
              fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    blob = raw.getvalue()
    return gzip.compress(blob, mtime=0) if compress else blob


def manifest_for(artifact: bytes, files: dict[str, bytes], modules: list[str] | None = None,
                 **overrides: Any) -> bytes:
    """A manifest consistent with ``artifact`` listing ``files`` (path -> content)."""
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        "artifact_size": len(artifact),
        "modules": modules or ["app"],
        "workflows": ["hello"], "steps": [],
        "python_version": "3.11.0", "built_at": "2026-01-01T00:00:00Z",
        "files": [{"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()}
                  for p, c in files.items()],
    }
    data.update(overrides)
    return json.dumps(data).encode()


def multipart(manifest: bytes | None, artifact: bytes | None, **fields: Any) -> dict[str, Any]:
    """Flask test-client ``data=`` for an upload."""
    data: dict[str, Any] = {k: str(v) for k, v in fields.items()}
    if manifest is not None:
        data["manifest"] = (io.BytesIO(manifest), "manifest.json")
    if artifact is not None:
        data["artifact"] = (io.BytesIO(artifact), "artifact.tar.gz")
    return data


def upload(client: Any, manifest: bytes | None, artifact: bytes | None, **fields: Any) -> Any:
    return client.post("/v1/deployments", data=multipart(manifest, artifact, **fields),
                       content_type="multipart/form-data", headers=AUTH)


def built_upload(client: Any, result: BuildResult, **fields: Any) -> Any:
    return upload(client, result.manifest_path.read_bytes(),
                  result.artifact_path.read_bytes(), **fields)

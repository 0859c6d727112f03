"""Helpers for deployment environments: tiny wheels written in the test (no index, no
network), projects that require them or declare secrets, and a scan for a plaintext."""

from __future__ import annotations

import base64
import hashlib
import textwrap
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.deployments.helpers import write_project

_TIME = (2020, 1, 1, 0, 0, 0)


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str],
               tag: str = "py3-none-any") -> Path:
    """Write ``name-version-<tag>.whl`` (``files``: path in the wheel -> source) with the
    METADATA, WHEEL and RECORD a wheel has; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    members = {path: textwrap.dedent(source).encode() for path, source in files.items()}
    members[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\n"
                                   f"Version: {version}\n").encode()
    members[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                f"Tag: {tag}\n").encode()
    record = [f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}"
              for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, _TIME), data)
    return path


def tinydep_wheels(folder: Path) -> Path:
    """Two versions of the package ``tinydep`` (1.0 and 2.0) in ``folder``."""
    for version in ("1.0", "2.0"):
        make_wheel(folder, "tinydep", version, {
            "tinydep/__init__.py": f"""
                VERSION = {version!r}
                from tinydep.impl import greet
                """,
            "tinydep/impl.py": f"""
                def greet(who):
                    return "tinydep {version} greets " + who
                """,
        })
    return folder


def config_source(modules: Iterable[str], **values: Any) -> str:
    args = ", ".join(f"{key}={value!r}" for key, value in values.items())
    return ("from workflow_studio import define_config\n"
            f"config = define_config(workflows={list(modules)!r}"
            + (f", {args}" if args else "") + ")\n")


def env_project(root: Path, files: dict[str, str], modules: list[str], **values: Any) -> Path:
    """A project like ``write_project``'s, whose config also sets ``values``."""
    config = write_project(root, files, modules)
    config.write_text(config_source(modules, **values), encoding="utf-8")
    return config


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]

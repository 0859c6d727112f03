"""The build: reproducible bytes, a complete manifest, import errors with file and line."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.deployments.helpers import value_project, write_project
from workflow_studio.builder.project import BuildError, build_project
from workflow_studio.compute.manifest import parse_manifest


def test_build_is_reproducible(tmp_path: Path) -> None:
    first = value_project(tmp_path / "p", 1)
    digest = hashlib.sha256(first.artifact_path.read_bytes()).hexdigest()
    # Same sources, later mtimes, another output dir: same bytes.
    for path in (tmp_path / "p").rglob("*.py"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    second = build_project(str(tmp_path / "p" / "workflow_config.py"), tmp_path / "other")
    assert hashlib.sha256(second.artifact_path.read_bytes()).hexdigest() == digest
    assert first.manifest.files == second.manifest.files


def test_tarball_metadata_is_fixed(tmp_path: Path) -> None:
    result = value_project(tmp_path / "p", 1)
    blob = result.artifact_path.read_bytes()
    assert blob[4:8] == b"\0\0\0\0"  # gzip mtime
    assert not blob[3] & 0x08        # no FNAME flag: no file name in the header
    with tarfile.open(result.artifact_path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.type) for m in members} == {
        (0, 0, 0, "", "", 0o644, tarfile.REGTYPE)}
    assert gzip.decompress(blob)  # a plain gzip stream


def test_manifest_lists_every_file(tmp_path: Path) -> None:
    result = value_project(tmp_path / "p", 1)
    manifest = parse_manifest(result.manifest_path.read_bytes())
    assert manifest.artifact_sha256 == hashlib.sha256(
        result.artifact_path.read_bytes()).hexdigest()
    assert manifest.artifact_size == result.artifact_path.stat().st_size
    assert [f.path for f in manifest.files] == [
        "shared_app/__init__.py", "shared_app/flows.py", "shared_app/helpers.py"]
    for entry in manifest.files:
        data = (tmp_path / "p" / entry.path).read_bytes()
        assert (entry.size, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert manifest.workflows == ("report",)
    assert manifest.steps == ("value",)
    assert manifest.modules == ("shared_app.flows",)
    assert manifest.python_version.count(".") == 2 and manifest.built_at.endswith("Z")
    assert "built_at" not in result.artifact_path.read_bytes().decode("latin-1")


def test_pycache_and_hidden_files_are_not_packaged(tmp_path: Path) -> None:
    config = write_project(tmp_path, {"app/__init__.py": "from workflow_studio import workflow\n"
                                      "@workflow\ndef w():\n    return 1\n",
                                      "app/__pycache__/x.cpython-311.pyc": "junk",
                                      "app/.secret": "token"}, ["app"])
    result = build_project(str(config), tmp_path / "out")
    assert [f.path for f in result.manifest.files] == ["app/__init__.py"]


def test_import_error_names_file_and_line(tmp_path: Path) -> None:
    source = "import os\n\nraise RuntimeError('boom')\n"
    config = write_project(tmp_path, {"app/__init__.py": source}, ["app"])
    with pytest.raises(BuildError, match=r"app/__init__.py:3: RuntimeError: boom"):
        build_project(str(config), tmp_path / "out")


def test_duplicate_workflow_names_fail_the_build(tmp_path: Path) -> None:
    source = "from workflow_studio import workflow\n@workflow(name='same')\ndef {0}():\n    pass\n"
    config = write_project(tmp_path, {"app/__init__.py": "from app import a, b\n",
                                      "app/a.py": source.format("one"),
                                      "app/b.py": source.format("two")}, ["app"])
    with pytest.raises(BuildError, match="duplicate workflow name 'same'"):
        build_project(str(config), tmp_path / "out")


def test_module_outside_project_is_refused(tmp_path: Path) -> None:
    config = write_project(tmp_path, {}, ["json"])
    with pytest.raises(BuildError, match="outside the project directory"):
        build_project(str(config), tmp_path / "out")


def test_cli_build_exits_2_with_location(tmp_path: Path) -> None:
    write_project(tmp_path, {"app/__init__.py": "def broken(:\n"}, ["app"])
    done = subprocess.run([sys.executable, "-m", "workflow_studio.cli", "build"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "app/__init__.py:1" in done.stderr and "SyntaxError" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_build_without_config_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "workflow_studio.cli", "build"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "workflow_config.py" in done.stderr

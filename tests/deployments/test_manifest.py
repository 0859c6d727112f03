"""Manifest parsing: what the worker accepts, and the field each rejection names."""

from __future__ import annotations

import json

import pytest

from tests.deployments.helpers import manifest_for, member, tar_bytes
from workflow_studio.compute.manifest import ManifestError, parse_manifest, unsafe_path_reason


def _valid() -> dict:
    artifact = tar_bytes([member("app/a.py")])
    return json.loads(manifest_for(artifact, {"app/a.py": b"x = 1\n"}))


def test_round_trip() -> None:
    parsed = parse_manifest(json.dumps(_valid()))
    assert parsed.files[0].path == "app/a.py"
    assert parse_manifest(parsed.to_json()) == parsed


@pytest.mark.parametrize(("change", "named"), [
    (lambda m: m.pop("files"), "'files' is missing"),
    (lambda m: m.update(format_version=99), "format_version 99"),
    (lambda m: m.update(artifact_sha256="ABC"), "artifact_sha256"),
    (lambda m: m.update(artifact_size=True), "'artifact_size' has the wrong type"),
    (lambda m: m.update(artifact_size=-1), "artifact_size"),
    (lambda m: m.update(modules=[]), "'modules'"),
    (lambda m: m.update(modules=["bad-name"]), "'modules'"),
    (lambda m: m.update(workflows=["a", "a"]), "twice"),
    (lambda m: m["files"].append(dict(m["files"][0])), "twice"),
    (lambda m: m["files"][0].update(size=-3), "files[0].size"),
    (lambda m: m["files"][0].update(sha256="nothex"), "files[0].sha256"),
    (lambda m: m["files"][0].update(path="/etc/passwd"), "absolute path"),
    (lambda m: m["files"][0].update(path="a/../../b"), "'..'"),
    (lambda m: m["files"][0].update(path="a//b"), "empty"),
])
def test_rejections_name_the_field(change, named) -> None:
    data = _valid()
    change(data)
    with pytest.raises(ManifestError) as info:
        parse_manifest(json.dumps(data))
    assert info.value.code == "invalid_manifest"
    assert named in info.value.message


def test_not_an_object_and_not_json() -> None:
    with pytest.raises(ManifestError, match="JSON object"):
        parse_manifest("[]")
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(b"\xff\xfe")


@pytest.mark.parametrize("path", ["", "/a", "a/../b", "./a", "a\\b", "a\x00b", "x" * 401])
def test_unsafe_paths(path: str) -> None:
    assert unsafe_path_reason(path)


@pytest.mark.parametrize("path", ["a.py", "pkg/sub/mod.py", "pkg/data/..hidden", "é.py"])
def test_safe_paths(path: str) -> None:
    assert unsafe_path_reason(path) is None

"""The hostile-artifact corpus: every upload here must be refused with a specific 400 and
leave nothing behind (no deployment, no files outside artifact_dir, no temporary dirs)."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import AUTH, manifest_for, member, multipart, tar_bytes, upload
from workflow_studio.worker import create_app

pytestmark = pytest.mark.both_backends

GOOD = b"VALUE = 1\n"
SMALL_CAPS = {"max_unpacked_bytes": 256 * 1024, "max_artifact_files": 5}


def _consistent(members: list[Any], listed: dict[str, bytes] | None = None,
                compress: bool = True) -> tuple[bytes, bytes]:
    artifact = tar_bytes(members, compress=compress)
    return manifest_for(artifact, listed if listed is not None else {}), artifact


def tampered() -> tuple[bytes, bytes]:
    manifest, artifact = _consistent([member("app/a.py", GOOD)], {"app/a.py": GOOD})
    broken = bytearray(artifact)
    broken[len(broken) // 2] ^= 0xFF
    return manifest, bytes(broken)


def size_mismatch() -> tuple[bytes, bytes]:
    artifact = tar_bytes([member("app/a.py", GOOD)])
    return manifest_for(artifact, {"app/a.py": GOOD}, artifact_size=len(artifact) + 1), artifact


def member_hash_mismatch() -> tuple[bytes, bytes]:
    artifact = tar_bytes([member("app/a.py", GOOD)])
    manifest = json.loads(manifest_for(artifact, {"app/a.py": GOOD}))
    manifest["files"][0]["sha256"] = hashlib.sha256(b"other").hexdigest()
    return json.dumps(manifest).encode(), artifact


def member_size_mismatch() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD)], {"app/a.py": GOOD + b"# more\n"})


def unlisted_member() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD), member("app/extra.py", GOOD)],
                       {"app/a.py": GOOD})


def missing_member() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD)], {"app/a.py": GOOD, "app/b.py": GOOD})


def duplicate_member() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD), member("app/a.py", GOOD)], {"app/a.py": GOOD})


def dotdot_path() -> tuple[bytes, bytes]:
    return _consistent([member("app/../../evil.py", GOOD)], {})


def absolute_path() -> tuple[bytes, bytes]:
    return _consistent([member("/tmp/evil.py", GOOD)], {})


def symlink() -> tuple[bytes, bytes]:
    return _consistent([member("app/link.py", kind=tarfile.SYMTYPE, linkname="/etc/passwd")],
                       {"app/link.py": b""})


def hardlink() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD),
                        member("app/b.py", kind=tarfile.LNKTYPE, linkname="app/a.py")],
                       {"app/a.py": GOOD, "app/b.py": b""})


def device_node() -> tuple[bytes, bytes]:
    return _consistent([member("app/dev", kind=tarfile.CHRTYPE, devmajor=1, devminor=3)],
                       {"app/dev": b""})


def fifo() -> tuple[bytes, bytes]:
    return _consistent([member("app/pipe", kind=tarfile.FIFOTYPE)], {"app/pipe": b""})


def directory_entry() -> tuple[bytes, bytes]:
    return _consistent([member("app", kind=tarfile.DIRTYPE)], {})


def path_conflict() -> tuple[bytes, bytes]:
    return _consistent([member("app", GOOD), member("app/a.py", GOOD)],
                       {"app": GOOD, "app/a.py": GOOD})


def oversized_member() -> tuple[bytes, bytes]:
    big = b"\0" * (SMALL_CAPS["max_unpacked_bytes"] + 1)
    return _consistent([member("app/big.bin", big)], {"app/big.bin": big})


def too_many_members() -> tuple[bytes, bytes]:
    files = {f"app/m{i}.py": GOOD for i in range(SMALL_CAPS["max_artifact_files"] + 1)}
    return _consistent([member(p, c) for p, c in files.items()], files)


def gzip_bomb() -> tuple[bytes, bytes]:
    # 8 MiB of zeros in a PAX header compresses to a few KiB; only metering stops it.
    info, data = member("app/a.py", GOOD)
    info.pax_headers = {"comment": "0" * (8 * 1024 * 1024)}
    return _consistent([(info, data)], {"app/a.py": GOOD})


def truncated_gzip() -> tuple[bytes, bytes]:
    full = tar_bytes([member(f"app/m{i}.py", bytes(range(256)) * 40) for i in range(3)])
    cut = full[: len(full) // 2]
    return manifest_for(cut, {}), cut


def not_gzip() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD)], {"app/a.py": GOOD}, compress=False)


def manifest_not_json() -> tuple[bytes, bytes]:
    return b"{not json", tar_bytes([member("app/a.py", GOOD)])


def manifest_unsafe_path() -> tuple[bytes, bytes]:
    return _consistent([member("app/a.py", GOOD)], {"../a.py": GOOD})


CASES: dict[str, tuple[Callable[[], tuple[bytes, bytes]], str]] = {
    "tampered_bytes": (tampered, "invalid_manifest"),
    "manifest_size_mismatch": (size_mismatch, "invalid_manifest"),
    "manifest_hash_mismatch": (member_hash_mismatch, "invalid_manifest"),
    "member_size_mismatch": (member_size_mismatch, "invalid_manifest"),
    "unlisted_member": (unlisted_member, "invalid_manifest"),
    "listed_member_missing": (missing_member, "invalid_manifest"),
    "duplicate_member": (duplicate_member, "invalid_artifact"),
    "dotdot_path": (dotdot_path, "invalid_artifact"),
    "absolute_path": (absolute_path, "invalid_artifact"),
    "symlink": (symlink, "invalid_artifact"),
    "hardlink": (hardlink, "invalid_artifact"),
    "device_node": (device_node, "invalid_artifact"),
    "fifo": (fifo, "invalid_artifact"),
    "directory_entry": (directory_entry, "invalid_artifact"),
    "file_dir_conflict": (path_conflict, "invalid_artifact"),
    "oversized_member": (oversized_member, "invalid_artifact"),
    "too_many_members": (too_many_members, "invalid_artifact"),
    "gzip_bomb": (gzip_bomb, "invalid_artifact"),
    "truncated_gzip": (truncated_gzip, "invalid_artifact"),
    "non_gzip_body": (not_gzip, "invalid_artifact"),
    "manifest_not_json": (manifest_not_json, "invalid_manifest"),
    "manifest_unsafe_path": (manifest_unsafe_path, "invalid_manifest"),
}


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    """artifact_dir's parent: a '..' escape would land here, so it must stay clean."""
    return tmp_path / "srv"


@pytest.fixture
def hostile_client(make_settings: Callable[..., Any], srv: Path) -> Any:
    app = create_app(make_settings(artifact_dir=str(srv / "artifacts"), **SMALL_CAPS))
    return app.test_client()


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not p.name.startswith("worker.db")}


def _assert_nothing_left(client: Any, srv: Path, before: set[str]) -> None:
    """artifact_dir is empty (no deployment, no .incoming-*), nothing new elsewhere."""
    artifacts = srv / "artifacts"
    assert not artifacts.exists() or list(artifacts.iterdir()) == []
    assert _snapshot(srv.parent) - before <= {"srv", "srv/artifacts"}
    listed = client.get("/v1/deployments", headers=AUTH).get_json()
    assert listed["data"] == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_upload_is_refused(case: str, hostile_client: Any, srv: Path) -> None:
    make, code = CASES[case]
    manifest, artifact = make()
    before = _snapshot(srv.parent)
    response = upload(hostile_client, manifest, artifact)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code, body
    assert body["message"]
    _assert_nothing_left(hostile_client, srv, before)


def test_missing_manifest_part(hostile_client: Any, srv: Path) -> None:
    before = _snapshot(srv.parent)
    response = upload(hostile_client, None, tar_bytes([member("app/a.py")]))
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_manifest"
    assert "manifest" in response.get_json()["message"]
    _assert_nothing_left(hostile_client, srv, before)


def test_missing_artifact_part(hostile_client: Any, srv: Path) -> None:
    before = _snapshot(srv.parent)
    manifest, _ = _consistent([member("app/a.py", GOOD)], {"app/a.py": GOOD})
    response = upload(hostile_client, manifest, None)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_artifact"
    assert "artifact" in response.get_json()["message"]
    _assert_nothing_left(hostile_client, srv, before)


def test_wrong_content_type(hostile_client: Any, srv: Path) -> None:
    before = _snapshot(srv.parent)
    response = hostile_client.post("/v1/deployments", json={"manifest": {}}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_artifact"
    assert "multipart/form-data" in response.get_json()["message"]
    _assert_nothing_left(hostile_client, srv, before)


def test_garbled_multipart_body(hostile_client: Any, srv: Path) -> None:
    before = _snapshot(srv.parent)
    response = hostile_client.post(
        "/v1/deployments", data=b"--x\r\nnot a header\r\n",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 400
    assert response.get_json()["code"] in ("invalid_artifact", "invalid_manifest")
    _assert_nothing_left(hostile_client, srv, before)


def test_artifact_over_upload_cap(make_settings: Callable[..., Any], srv: Path) -> None:
    client = create_app(make_settings(artifact_dir=str(srv / "artifacts"),
                                      max_artifact_bytes=1024)).test_client()
    payload = gzip.compress(bytes(range(256)) * 64, mtime=0, compresslevel=0)
    manifest = manifest_for(payload, {})
    response = client.post("/v1/deployments", data=multipart(manifest, payload),
                           content_type="multipart/form-data", headers=AUTH)
    assert response.status_code in (400, 413)
    assert response.get_json()["code"] in ("invalid_artifact", "payload_too_large")
    assert not any((srv / "artifacts").iterdir())



def test_sweep_removes_only_stale_unfinished_uploads(tmp_path):
    import os
    import time as _time

    from workflow_studio.worker.deployments.verify import sweep_incoming

    stale, fresh, done = (tmp_path / ".incoming-old"), (tmp_path / ".incoming-new"), (
        tmp_path / "dpl_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    for directory in (stale, fresh, done):
        (directory / "src").mkdir(parents=True)
    old = _time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(done, (old, old))
    assert sweep_incoming(tmp_path) == 1
    assert not stale.exists() and fresh.exists() and done.exists()

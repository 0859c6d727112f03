"""``workflow-studio runs start`` without ``--url`` starts runs through the same service as
``POST /v1/runs``: it honours ``--idempotency-key`` and refuses what the API refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workflow_studio.compute.ids import new_id
from workflow_studio.config.settings import load_settings
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import open_database

CLI = [sys.executable, "-m", "workflow_studio.cli"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    return subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


def _deployment(tmp_path: Path, *, activate: bool) -> str:
    """A deployment row of workflow ``total`` in the local worker database."""
    db = open_database(load_settings(environ={}, options={"sqlite_path": str(
        tmp_path / ".workflow-studio" / "worker.db")}))
    try:
        conn = db.connection()
        deployment_id = new_id("dpl")
        with conn.transaction():
            deployments_repo.create(
                conn, deployment_id=deployment_id, manifest={}, artifact_sha256="0" * 64,
                artifact_size=0, workflows=["total"], steps=[], created_by_key_id=None)
            if activate:
                deployments_repo.activate(conn, deployment_id, None)
        return deployment_id
    finally:
        db.close()


def test_no_deployment_is_refused_like_the_api(tmp_path: Path) -> None:
    result = _cli(tmp_path, "runs", "start", "total")
    assert result.returncode == 1
    assert "no_active_deployment" in result.stderr and "Traceback" not in result.stderr


def test_a_never_activated_deployment_is_refused_like_the_api(tmp_path: Path) -> None:
    _deployment(tmp_path, activate=True)
    pending = _deployment(tmp_path, activate=False)
    result = _cli(tmp_path, "runs", "start", "total", "--deployment-id", pending)
    assert result.returncode == 1
    assert "conflict" in result.stderr and "never activated" in result.stderr


def test_an_unknown_workflow_is_refused_by_name(tmp_path: Path) -> None:
    _deployment(tmp_path, activate=True)
    result = _cli(tmp_path, "runs", "start", "nope")
    assert result.returncode == 1 and "unknown_workflow" in result.stderr


def test_the_idempotency_key_is_honoured(tmp_path: Path) -> None:
    _deployment(tmp_path, activate=True)
    first = _cli(tmp_path, "runs", "start", "total", "--args", "[1]", "--json",
                 "--idempotency-key", "nightly-1")
    assert first.returncode == 0, first.stderr
    again = _cli(tmp_path, "runs", "start", "total", "--args", "[1]", "--json",
                 "--idempotency-key", "nightly-1")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"] == json.loads(first.stdout)["id"]
    other = _cli(tmp_path, "runs", "start", "total", "--args", "[2]", "--json",
                 "--idempotency-key", "nightly-1")
    assert other.returncode == 1 and "idempotency_conflict" in other.stderr
    fresh = _cli(tmp_path, "runs", "start", "total", "--args", "[1]", "--json")
    assert json.loads(fresh.stdout)["id"] != json.loads(first.stdout)["id"]
    listed = _cli(tmp_path, "runs", "list", "--json")
    assert len(json.loads(listed.stdout)["data"]) == 2

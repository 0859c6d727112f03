"""A node that never received an upload fetches the artifact from PostgreSQL, verifies it and
unpacks it into its own artifact cache; tampered bytes are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import AUTH, built_upload, value_project
from workflow_studio.worker import create_app
from workflow_studio.worker.deployments.fetch import database_fetcher
from workflow_studio.worker.deployments.loader import DeploymentLoadError, load_deployment

pytestmark = pytest.mark.both_backends


def test_second_node_fetches_verifies_and_activates(make_settings: Callable[..., Any],
                                                    tmp_path: Path, backend: str) -> None:
    first = create_app(make_settings(artifact_dir=str(tmp_path / "node-a")))
    second_settings = make_settings(artifact_dir=str(tmp_path / "node-b"))
    second = create_app(second_settings)
    uploaded = built_upload(first.test_client(), value_project(tmp_path / "p", 7))
    assert uploaded.status_code == 201, uploaded.get_json()
    deployment_id = uploaded.get_json()["id"]
    assert not (tmp_path / "node-b" / deployment_id).exists()

    activated = second.test_client().post(f"/v1/deployments/{deployment_id}/activate",
                                          headers=AUTH)
    if backend == "sqlite":  # one node by design: nothing to fetch from
        assert activated.status_code == 400
        return
    assert activated.status_code == 200, activated.get_json()
    assert (tmp_path / "node-b" / deployment_id / "manifest.json").is_file()
    db = second.extensions["workflow_studio"].db
    loaded = load_deployment(second_settings.artifact_path, deployment_id,
                             database_fetcher(db, second_settings))
    assert set(loaded.registry.workflows) == {"report"}


@pytest.mark.postgres_only
def test_tampered_stored_artifact_is_refused(make_settings: Callable[..., Any],
                                             tmp_path: Path) -> None:
    first = create_app(make_settings(artifact_dir=str(tmp_path / "node-a")))
    deployment_id = built_upload(first.test_client(),
                                 value_project(tmp_path / "p", 1)).get_json()["id"]
    db = first.extensions["workflow_studio"].db
    conn = db.connection()
    row = conn.query_one("SELECT artifact FROM deployment_artifacts WHERE deployment_id = ?",
                         (deployment_id,))
    data = bytearray(row["artifact"])
    data[len(data) // 2] ^= 0xFF
    conn.execute("UPDATE deployment_artifacts SET artifact = ? WHERE deployment_id = ?",
                 (bytes(data), deployment_id))
    settings = make_settings(artifact_dir=str(tmp_path / "node-c"))
    with pytest.raises(DeploymentLoadError, match="does not verify"):
        load_deployment(settings.artifact_path, deployment_id, database_fetcher(db, settings))
    assert not (tmp_path / "node-c" / deployment_id).exists()

"""The deployment routes through the Flask test client: shapes, codes, pagination, scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import AUTH, built_upload, value_project
from workflow_studio.builder.project import BuildResult
from workflow_studio.compute.ids import new_id, parse_id

pytestmark = pytest.mark.both_backends


@pytest.fixture
def project(tmp_path: Path) -> BuildResult:
    return value_project(tmp_path / "project", 1)


def test_upload_returns_the_deployment(client: Any, project: BuildResult, tmp_path: Path):
    response = built_upload(client, project, concurrency=4, stepTimeout=2.5)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert parse_id(body["id"], "dpl")
    assert body["version"] == 1 and body["status"] == "ready" and body["active"] is False
    assert body["artifactSha256"] == project.manifest.artifact_sha256
    assert body["artifactSize"] == project.manifest.artifact_size
    assert body["workflows"] == ["report"] and body["steps"] == ["value"]
    assert body["settings"] == {"concurrency": 4, "stepTimeout": 2.5, "defaultRetries": 3}
    assert body["createdAt"].endswith("Z") and body["createdByKeyId"].startswith("key_")
    unpacked = tmp_path / "artifacts" / body["id"]
    assert (unpacked / "manifest.json").is_file()
    assert (unpacked / "src" / "shared_app" / "flows.py").is_file()
    assert client.get(f"/v1/deployments/{body['id']}", headers=AUTH).get_json() == body


def test_invalid_settings_are_400(client: Any, project: BuildResult, tmp_path: Path):
    response = built_upload(client, project, concurrency=0)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_request"
    assert "concurrency" in response.get_json()["fields"]
    assert not list((tmp_path / "artifacts").iterdir())


def test_reads_errors(client: Any):
    assert client.get("/v1/deployments/nope", headers=AUTH).get_json()["code"] == (
        "invalid_deployment_id")
    missing = client.get(f"/v1/deployments/{new_id('dpl')}", headers=AUTH)
    assert (missing.status_code, missing.get_json()["code"]) == (404, "not_found")
    none = client.get("/v1/deployments/active", headers=AUTH)
    assert (none.status_code, none.get_json()["code"]) == (409, "no_active_deployment")
    bad = client.post("/v1/deployments/run_123/activate", headers=AUTH)
    assert (bad.status_code, bad.get_json()["code"]) == (400, "invalid_deployment_id")
    unknown = client.post(f"/v1/deployments/{new_id('dpl')}/activate", headers=AUTH)
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "not_found")


def test_activate_moves_pointer_and_health_shows_it(client: Any, project: BuildResult):
    first = built_upload(client, project).get_json()
    second = built_upload(client, project).get_json()
    assert client.get("/v1/health").get_json()["activeDeployment"] is None
    activated = client.post(f"/v1/deployments/{first['id']}/activate", headers=AUTH)
    assert activated.status_code == 200, activated.get_json()
    assert activated.get_json()["active"] is True
    switched = client.post(f"/v1/deployments/{second['id']}/activate", headers=AUTH).get_json()
    assert switched["previousDeploymentId"] == first["id"]
    assert switched["activatedByKeyId"].startswith("key_")
    assert client.get("/v1/health").get_json()["activeDeployment"] == {
        "id": second["id"], "version": 2}
    old = client.get(f"/v1/deployments/{first['id']}", headers=AUTH).get_json()
    assert (old["status"], old["active"]) == ("inactive", False)


def test_list_is_newest_first_with_cursor(client: Any, project: BuildResult):
    ids = [built_upload(client, project).get_json()["id"] for _ in range(5)]
    page = client.get("/v1/deployments?limit=2", headers=AUTH).get_json()
    assert [d["id"] for d in page["data"]] == [ids[4], ids[3]]
    assert page["hasMore"] is True
    seen = [d["id"] for d in page["data"]]
    while page["hasMore"]:
        page = client.get(f"/v1/deployments?limit=2&cursor={page['cursor']}",
                          headers=AUTH).get_json()
        seen += [d["id"] for d in page["data"]]
    assert seen == ids[::-1]
    too_big = client.get("/v1/deployments?limit=1001", headers=AUTH)
    assert too_big.status_code == 400


def test_scopes(client: Any, project: BuildResult):
    reader = client.post("/v1/keys", json={"name": "r", "scopes": ["deploy:read"]},
                         headers=AUTH).get_json()["secret"]
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get("/v1/deployments", headers=headers).status_code == 200
    denied = client.post("/v1/deployments", headers=headers, data={},
                         content_type="multipart/form-data")
    assert (denied.status_code, denied.get_json()["scope"]) == (403, "deploy:write")
    assert client.get("/v1/deployments").status_code == 401

"""World-proxy fixtures: an app with a recorded, active deployment (rows only: the proxy
routes never import its code) and a key holding only ``world:proxy``."""

from __future__ import annotations

from typing import Any

import pytest

from workflow_studio.compute.ids import new_id
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.worker.context import EXTENSION


def record_deployment(app: Any, workflows: list[str] | None = None,
                      activate: bool = True) -> str:
    db = app.extensions[EXTENSION].db
    conn = db.connection()
    deployment_id = new_id("dpl")
    deployments_repo.create(conn, deployment_id=deployment_id, manifest={},
                            artifact_sha256="0" * 64, artifact_size=1,
                            workflows=workflows or ["checkout"], steps=["charge"],
                            created_by_key_id=None)
    if activate:
        deployments_repo.activate(conn, deployment_id, None)
    return deployment_id


@pytest.fixture
def deployment(app: Any) -> str:
    return record_deployment(app)


@pytest.fixture
def proxy_headers(client: Any, admin_headers: dict[str, str]) -> dict[str, str]:
    created = client.post("/v1/keys", json={"name": "remote-world", "scopes": ["world:proxy"]},
                          headers=admin_headers).get_json()
    return {"Authorization": f"Bearer {created['secret']}"}


class Proxy:
    """Small helpers over the Flask client for event-sourcing tests."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body or {}, headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, query_string=params, headers=self.headers)

    def event(self, run_id: str | None, event_type: str, correlation_id: str | None = None,
              **data: Any) -> Any:
        return self.post("/v1/world/events/create", {
            "runId": run_id, "eventType": event_type, "correlationId": correlation_id,
            "eventData": data})

    def new_run(self, **data: Any) -> str:
        response = self.event(None, "run_created", workflowName="checkout", **data)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["run"]["id"])


@pytest.fixture
def proxy(client: Any, proxy_headers: dict[str, str], deployment: str) -> Proxy:
    return Proxy(client, proxy_headers)

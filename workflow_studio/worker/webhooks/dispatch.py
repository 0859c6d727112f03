"""What an ``on_webhook(provider, event)`` handler receives: the verified delivery and a
small API to act on it inside the delivery's transaction.

``event.start(...)`` starts a run (trigger type ``webhook``) on the active deployment and
``event.resume_hook(token, payload)`` delivers a payload to a waiting hook. Their writes
commit together with the delivery record: if the handler raises, nothing it did is kept and
the delivery is not marked as seen, so the provider's retry is handled afresh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.engine import service
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage.base import Connection
from workflow_studio.worker.errors import ApiError


class WebhookEvent:
    """One verified delivery. ``json`` is the parsed body (None if it is not JSON)."""

    def __init__(self, conn: Connection, provider: str, delivery_id: str, body: bytes,
                 headers: Mapping[str, str]) -> None:
        self._conn = conn
        self.provider, self.delivery_id, self.body = provider, delivery_id, body
        self.headers = dict(headers)
        self.started: list[str] = []
        self.resumed: list[str] = []

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def start(self, workflow_name: str, *args: Any, deployment_id: str | None = None,
              **kwargs: Any) -> dict[str, Any]:
        """Start a run of ``workflow_name`` (trigger type ``webhook``); returns the run."""
        deployment = self._deployment(deployment_id)
        if workflow_name not in deployment["workflows"]:
            raise ApiError(400, ErrorCode.UNKNOWN_WORKFLOW,
                           f"Deployment {deployment['id']} has no workflow {workflow_name!r}.")
        row = service.trigger(self._conn, workflow_name, args, kwargs,
                              deployment_id=deployment["id"], trigger_type="webhook",
                              concurrency_limit=deployment.get("concurrency"))
        self.started.append(row["id"])
        return service.run_json(row)

    def resume_hook(self, token: str, payload: Any = None) -> dict[str, Any] | None:
        """Deliver ``payload`` to the live hook ``token``; None when no hook waits on it."""
        try:
            hook = service.resume_hook(self._conn, token, payload)
        except service.HookNotFound:
            return None
        self.resumed.append(hook["run_id"])
        return {"hookId": hook["id"], "runId": hook["run_id"]}

    def _deployment(self, requested: str | None) -> dict[str, Any]:
        if requested is None:
            row = deployments_repo.get_active(self._conn)
            if row is None:
                raise ApiError(409, ErrorCode.NO_ACTIVE_DEPLOYMENT,
                               "The webhook handler started a run but no deployment is active.")
            return row
        row = deployments_repo.get(self._conn, requested) if parse_id(requested, "dpl") else None
        if row is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"No deployment with id {requested!r}.")
        return row

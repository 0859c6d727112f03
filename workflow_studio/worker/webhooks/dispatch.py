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

from workflow_studio.compute import payloads
from workflow_studio.engine import render, service
from workflow_studio.engine import runs as starts
from workflow_studio.storage.base import Connection
from workflow_studio.worker.context import start_refused


class WebhookEvent:
    """One verified delivery. ``json`` is the parsed body (None if it is not JSON)."""

    def __init__(self, conn: Connection, provider: str, delivery_id: str, body: bytes,
                 headers: Mapping[str, str],
                 max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES) -> None:
        self._conn = conn
        self._max_payload_bytes = max_payload_bytes
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
        """Start a run of ``workflow_name`` (trigger type ``webhook``) on the active
        deployment (or ``deployment_id``), by the same rules as ``POST /v1/runs``."""
        request = starts.StartRequest.of_values(workflow_name, args, kwargs,
                                                deployment=deployment_id,
                                                trigger_type="webhook")
        try:
            row = starts.start_run(self._conn, request,
                                   max_payload_bytes=self._max_payload_bytes).run
        except starts.StartRefused as exc:
            raise start_refused(exc) from None
        self.started.append(row["id"])
        return render.run_json(row)

    def resume_hook(self, token: str, payload: Any = None) -> dict[str, Any] | None:
        """Deliver ``payload`` to the live hook ``token``; None when no hook waits on it."""
        try:
            hook = service.resume_hook(self._conn, token, payload, self._max_payload_bytes)
        except service.HookNotFound:
            return None
        self.resumed.append(hook["run_id"])
        return {"hookId": hook["id"], "runId": hook["run_id"]}

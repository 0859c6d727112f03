"""Writes the audit row for each state-changing request and each auth failure."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request

from workflow_studio.worker.clock import now_ms
from workflow_studio.worker.context import conn
from workflow_studio.worker.storage import DatabaseUnavailable
from workflow_studio.worker.storage import audit as audit_repo

log = logging.getLogger("workflow_studio.audit")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def init_app(app: Flask) -> None:
    @app.after_request
    def _audit(response: Response) -> Response:
        auth_failure = response.status_code in (401, 403) and g.get("auth_failed", False)
        if request.method not in STATE_CHANGING and not auth_failure:
            return response
        if request.url_rule is None and not auth_failure:
            return response  # nothing was routed, nothing changed
        metadata = {"correlation_id": g.get("correlation_id")}
        if g.get("run_id"):
            metadata["run_id"] = g.run_id
        if auth_failure:
            metadata["auth_failure"] = True
        try:
            audit_repo.record(
                conn(), created_at=now_ms(), key_id=g.get("key_id"), method=request.method,
                route=request.url_rule.rule if request.url_rule else request.path,
                path=request.path, status=response.status_code,
                correlation_id=g.get("correlation_id", "-"), run_id=g.get("run_id"),
                metadata=metadata,
            )
        except DatabaseUnavailable as exc:
            log.error("audit entry not written: %s", exc)
        return response

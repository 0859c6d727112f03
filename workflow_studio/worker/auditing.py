"""Writes the audit row for each state-changing request and each auth failure.

The row is written by the ``after_request`` hook, in its own statement, unless the route
already wrote it inside its own transaction with ``deferred`` (the trigger does: one
commit instead of two on the hottest route, and the row can never exist without the run or
the run without the row). Either way each request gets exactly one row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage import DatabaseUnavailable
from workflow_studio.storage import audit as audit_repo
from workflow_studio.worker.context import conn

log = logging.getLogger("workflow_studio.audit")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def deferred(status: int, auth_failure: bool = False) -> Callable[[Any, str | None], None]:
    """This request's audit row as ``write(c, run_id)``: the request's fields are read now,
    so ``write`` can run later inside the caller's transaction, even on another thread
    (``group_commit``). Call ``committed()`` once that transaction has committed; until
    then the hook still writes a row (e.g. for the error response of a rolled-back
    trigger)."""
    fields = {"key_id": g.get("key_id"), "method": request.method,
              "route": request.url_rule.rule if request.url_rule else request.path,
              "path": request.path, "status": status,
              "correlation_id": g.get("correlation_id", "-")}
    correlation = g.get("correlation_id")

    def write(c: Any, run_id: str | None) -> None:
        metadata: dict[str, Any] = {"correlation_id": correlation}
        if run_id:
            metadata["run_id"] = run_id
        if auth_failure:
            metadata["auth_failure"] = True
        audit_repo.record(c, created_at=now_ms(), run_id=run_id, metadata=metadata, **fields)
    return write


def committed() -> None:
    """The row written through ``deferred`` is durable: the after_request hook must skip."""
    g.audited = True


def init_app(app: Flask) -> None:
    @app.after_request
    def _audit(response: Response) -> Response:
        if g.get("audited", False):
            return response
        auth_failure = response.status_code in (401, 403) and g.get("auth_failed", False)
        if request.method not in STATE_CHANGING and not auth_failure:
            return response
        if request.url_rule is None and not auth_failure:
            return response  # nothing was routed, nothing changed
        try:
            deferred(response.status_code, auth_failure)(conn(), g.get("run_id"))
        except DatabaseUnavailable as exc:
            log.error("audit entry not written: %s", exc)
        return response

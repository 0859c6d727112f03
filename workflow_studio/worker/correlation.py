"""Correlation ids: read or made before routing, echoed on every response, put in logs.

What the caller sent is kept apart from what the worker knows: ``g.correlation_supplied``
says whether the correlation id came from the caller, and an ``x-workflow-run-id`` header
is only ``g.claimed_run_id``. ``g.run_id`` is set by routes, from the database (the run
a request is about). Logs show the claim when no route set one; the audit records a
caller's claims as facts only for requests with a valid API key (``auditing``).
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "x-workflow-correlation-id"
RUN_HEADER = "x-workflow-run-id"
_SAFE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_ids() -> tuple[str, str]:
    """(correlation id, run id) of the request being served, or ("-", "-")."""
    if not has_request_context():
        return "-", "-"
    return g.get("correlation_id", "-"), g.get("run_id") or g.get("claimed_run_id") or "-"


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` and ``run_id`` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id, record.run_id = current_ids()
        return True


def init_app(app: Flask) -> None:
    @app.before_request
    def _read_correlation() -> None:
        given = request.headers.get(HEADER, "")
        # An id we cannot safely log or echo is replaced, not trusted.
        g.correlation_supplied = bool(_SAFE.match(given))
        g.correlation_id = given if g.correlation_supplied else str(uuid.uuid4())
        run_id = request.headers.get(RUN_HEADER, "")
        g.claimed_run_id = run_id if _SAFE.match(run_id) else None

    @app.after_request
    def _echo_correlation(response: Response) -> Response:
        response.headers[HEADER] = g.get("correlation_id") or str(uuid.uuid4())
        return response

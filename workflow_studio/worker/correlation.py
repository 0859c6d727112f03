"""Correlation ids: read or made before routing, echoed on every response, put in logs."""

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
    return g.get("correlation_id", "-"), g.get("run_id") or "-"


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
        g.correlation_id = given if _SAFE.match(given) else str(uuid.uuid4())
        run_id = request.headers.get(RUN_HEADER, "")
        g.run_id = run_id if _SAFE.match(run_id) else None

    @app.after_request
    def _echo_correlation(response: Response) -> Response:
        response.headers[HEADER] = g.get("correlation_id") or str(uuid.uuid4())
        return response

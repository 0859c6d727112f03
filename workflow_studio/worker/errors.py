"""The one JSON error envelope, for routes, hooks, routing errors and crashes alike."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.storage import DatabaseUnavailable, InvalidInput

log = logging.getLogger("workflow_studio.worker")

_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


class ApiError(Exception):
    """Raise anywhere in a request to answer with the error envelope."""

    def __init__(self, status: int, code: str | ErrorCode, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code.value if isinstance(code, ErrorCode) else code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def error_response(status: int, code: str | ErrorCode, message: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"code": code.value if isinstance(code, ErrorCode) else code, "message": message}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.errorhandler(DatabaseUnavailable)
    def _db_down(exc: DatabaseUnavailable) -> Response:
        log.error("database unavailable: %s", exc)
        return error_response(503, ErrorCode.DATABASE_UNAVAILABLE,
                              "The worker's database is unavailable; retry shortly.",
                              {"Retry-After": "1"})

    @app.errorhandler(InvalidInput)
    def _invalid_input(exc: InvalidInput) -> Response:
        return error_response(400, ErrorCode.INVALID_REQUEST,
                              "A value in the request is out of range or contains characters "
                              "that cannot be stored (e.g. NUL).")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, ErrorCode.INVALID_REQUEST if status < 500
                               else ErrorCode.INTERNAL_ERROR)
        message = exc.description or exc.name
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(status, code, message, headers)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, ErrorCode.INTERNAL_ERROR,
                              "Internal error; the worker log has details under this "
                              "request's correlation id.")

"""The one JSON error envelope, for routes, hooks, routing errors and crashes alike.

Raise ``ApiError(ErrorCode.X, message)`` anywhere in a request: the HTTP status is the one
``ErrorCode.X`` is bound to in ``workflow_studio.compute.errors``, never chosen at the raise
site, so no code is ever answered with two statuses.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from workflow_studio.compute.errors import ErrorCode, code_for_status
from workflow_studio.storage import DatabaseUnavailable, InvalidInput

log = logging.getLogger("workflow_studio.worker")


def as_error_code(code: str | ErrorCode) -> ErrorCode:
    """``code`` as an ``ErrorCode``; a string that is none is a programming error."""
    try:
        return ErrorCode(code)
    except ValueError:
        raise ValueError(f"{code!r} is not an ErrorCode: declare it, with its HTTP status, in "
                         "workflow_studio.compute.errors") from None


class ApiError(Exception):
    """Raise anywhere in a request to answer with the error envelope of ``code``."""

    def __init__(self, code: str | ErrorCode, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        """The HTTP status is the code's own (``ErrorCode.status``): one place binds them."""
        super().__init__(message)
        bound = as_error_code(code)
        self.code: str = bound.value
        self.status: int = bound.status
        self.message = message
        self.headers: dict[str, str] = headers or {}
        self.extra = extra


def _code_value(code: str | ErrorCode) -> str:
    return code.value if isinstance(code, ErrorCode) else code


def _envelope(status: int, code: str | ErrorCode, message: str,
              headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"code": _code_value(code), "message": message}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(code: ErrorCode, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> Response:
    """The envelope for ``code``, answered with the status ``code`` is bound to."""
    return _envelope(code.status, code, message, headers, **extra)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _envelope(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.errorhandler(DatabaseUnavailable)
    def _db_down(exc: DatabaseUnavailable) -> Response:
        log.error("database unavailable: %s", exc)
        return error_response(ErrorCode.DATABASE_UNAVAILABLE,
                              "The worker's database is unavailable; retry shortly.",
                              {"Retry-After": "1"})

    @app.errorhandler(InvalidInput)
    def _invalid_input(exc: InvalidInput) -> Response:
        return error_response(ErrorCode.INVALID_REQUEST,
                              "A value in the request is out of range or contains characters "
                              "that cannot be stored (e.g. NUL).")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = code_for_status(exc.code or 500)
        message = exc.description or exc.name
        headers = {}
        if code is ErrorCode.METHOD_NOT_ALLOWED and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(code, message, headers)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(ErrorCode.INTERNAL_ERROR,
                              "Internal error; the worker log has details under this "
                              "request's correlation id.")

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
from workflow_studio.storage import DatabaseBusy, DatabaseUnavailable, InvalidInput

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
    """The envelope for every error, and the bound on a request's lock waits that makes
    a 503 ``database_busy`` take ``lock_timeout`` in all: its waits for the database's
    locks add up to that at most, so the writes after the first that gave up (the audit
    row of the answer) fail at once instead of waiting again."""
    from workflow_studio.worker.context import EXTENSION  # context imports this module

    db = app.extensions[EXTENSION].db
    budget = db.timeouts.lock

    def _lock_budget() -> None:
        db.lock_budget(budget)

    # First of all hooks: authentication already writes (the rate-limit counter).
    app.before_request_funcs.setdefault(None, []).insert(0, _lock_budget)

    @app.teardown_request
    def _no_lock_budget(exc: BaseException | None) -> None:
        db.lock_budget(None)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _envelope(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.errorhandler(DatabaseUnavailable)
    def _db_down(exc: DatabaseUnavailable) -> Response:
        log.error("database unavailable: %s", exc)
        return error_response(ErrorCode.DATABASE_UNAVAILABLE,
                              "The worker's database is unavailable; retry shortly.",
                              {"Retry-After": "1"})

    @app.errorhandler(DatabaseBusy)
    def _db_busy(exc: DatabaseBusy) -> Response:
        # A warning, not an error: the database is fine, a lock holder was slow (the
        # message says who). Nothing of the request's failed write was stored.
        log.warning("database busy: %s", exc)
        return error_response(ErrorCode.DATABASE_BUSY,
                              "A lock the request needed stayed taken past the worker's "
                              "lock_timeout; the write that waited was not made. Retry "
                              "shortly.",
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

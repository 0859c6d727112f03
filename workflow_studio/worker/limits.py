"""Request body limits: no route reads more of a body than its cap.

Every route's cap is ``worker.limits.max_json_bytes`` unless its view declares another with
``@body_limit(setting)`` (deployment uploads: the artifact cap; provider webhooks and hook
URLs: ``worker.limits.max_webhook_bytes``). A ``before_request`` hook refuses a larger
``Content-Length`` at once, before a byte of the body is read, and bounds the request's
stream: a body without a length (``Transfer-Encoding: chunked``) is read through werkzeug's
``LimitedStream``, which stops one byte past the cap, and ``read_body`` (the only way views
read a body) refuses it when that byte arrived. Either way the answer is 413
``payload_too_large`` naming the cap and its setting, and gunicorn discards at most 64 KiB
of what is left before it closes the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.config.table import BY_FIELD
from workflow_studio.worker.context import state
from workflow_studio.worker.errors import ApiError, error_response

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SETTING = "max_json_bytes"
# What the server's body reader raises for a body whose framing is broken (a chunk size
# that is not hex, a missing CRLF): the client's mistake, found only while reading.
MALFORMED_BODY: tuple[type[Exception], ...] = (ParseException,)


def body_limit(setting: str, extra: int = 0) -> Callable[[F], F]:
    """Declare that a view reads bodies of up to ``setting`` (a ``Settings`` field) plus
    ``extra`` bytes, instead of ``max_json_bytes``."""
    if setting not in BY_FIELD:
        raise ValueError(f"{setting!r} is not a setting")

    def mark(view: F) -> F:
        view.body_limit = (setting, extra)  # type: ignore[attr-defined]
        return view
    return mark


def _cap() -> tuple[int, str]:
    """(bytes, setting path) of the body this request's view may read."""
    view = current_app.view_functions.get(request.endpoint) if request.url_rule else None
    setting, extra = getattr(view, "body_limit", (DEFAULT_SETTING, 0))
    return getattr(state().settings, setting) + extra, BY_FIELD[setting].path


def _too_large(limit: int, path: str) -> str:
    return (f"The request body is larger than this route accepts ({limit} bytes; "
            f"{path}).")


def read_body() -> bytes:
    """The request's body (cached), never more of it than the route's cap: 413 past it.

    The stream stops one byte past the cap (``max_content_length``), so a body of exactly
    the cap is accepted and one byte more is not; a ``LimitedStream`` alone stops at its
    limit without saying whether more was coming."""
    limit, path = g.get("body_limit") or _cap()
    try:
        raw = request.get_data(cache=True)
    except MALFORMED_BODY as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, "The request body's framing is malformed "
                       f"({type(exc).__name__}).") from None
    if len(raw) > limit:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, _too_large(limit, path), limit=limit)
    return raw


def init_app(app: Flask) -> None:
    @app.before_request
    def _limit_body() -> None:
        if not request.content_length and "Transfer-Encoding" not in request.headers:
            return  # no body: nothing to bound (most reads; read_body computes the cap)
        limit, path = _cap()
        g.body_limit = limit, path
        request.max_content_length = limit + 1  # see read_body
        if (request.content_length or 0) > limit:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, _too_large(limit, path),
                           limit=limit)

    @app.errorhandler(RequestEntityTooLarge)
    def _stream_too_large(_: RequestEntityTooLarge) -> Response:
        limit, path = g.get("body_limit") or _cap()
        return error_response(ErrorCode.PAYLOAD_TOO_LARGE, _too_large(limit, path),
                              limit=limit)

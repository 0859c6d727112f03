"""gunicorn's threaded worker, answering in the API's JSON envelope too when gunicorn
refuses a request before the app sees it.

gunicorn parses the request line and headers itself; what it cannot parse or will not
accept (a request line or header over ``limit_request_line`` / ``limit_request_field_size``
/ ``limit_request_fields``, a control character in a header, a malformed request line or
chunk, an unsupported ``Transfer-Encoding``) it answers from ``Worker.handle_error`` with an
HTML page. ``JsonErrorWorker`` lets gunicorn classify, log and access-log the error as it
always does, keeps the page it writes, and sends the envelope instead:
``{"code", "message"}`` with the status bound to the code (``code_for_status``: 400
``invalid_request``, 414 ``uri_too_long``, 431 ``headers_too_large``, 501
``not_implemented``, 500 ``internal_error``) and a fresh ``x-workflow-correlation-id``.

What stays gunicorn's: a peer that sends nothing parseable at all, TLS handshake failures,
and HTTP/2 framing errors get no HTTP answer, as before; a status gunicorn chooses that has
no code of its own (403, 417) is answered with its family's code (400 ``invalid_request``).
"""

from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from workflow_studio.compute.errors import ErrorCode, code_for_status

_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3}) ")
_DETAIL_CHARS = 200  # of gunicorn's description (it may quote the whole request line)


class _Kept:
    """Stands in for the client socket while gunicorn writes its error page: the page is
    kept here instead of sent; everything else reaches the real socket."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.sent = bytearray()

    def gettimeout(self) -> float:
        return 0.0  # util.write_nonblock then writes without touching the real socket

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _message(code: ErrorCode, exc: BaseException, cfg: Any) -> str:
    if code is ErrorCode.URI_TOO_LONG:
        return (f"The request line is longer than this worker accepts "
                f"({cfg.limit_request_line} bytes).")
    if code is ErrorCode.HEADERS_TOO_LARGE:
        return (f"The request headers are larger than this worker accepts (at most "
                f"{cfg.limit_request_fields} fields of {cfg.limit_request_field_size} bytes).")
    if code is ErrorCode.INTERNAL_ERROR:
        return "Internal error while reading the request; the worker log has details."
    detail = str(exc)
    if len(detail) > _DETAIL_CHARS:
        detail = detail[:_DETAIL_CHARS] + "..."
    return f"The HTTP request is malformed: {detail}" if code.status == 400 else detail


def error_bytes(status: int, exc: BaseException, cfg: Any) -> bytes:
    """The whole HTTP response that answers gunicorn's ``status`` for ``exc``."""
    code = code_for_status(status)
    body = json.dumps({"code": code.value, "message": _message(code, exc, cfg)},
                      separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {code.status} {HTTPStatus(code.status).phrase}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"x-workflow-correlation-id: {uuid.uuid4()}\r\n\r\n")
    return head.encode("ascii") + body


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread``, with JSON error answers (see the module docstring)."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        kept = _Kept(client)
        super().handle_error(req, kept, addr, exc)
        if not kept.sent:
            return  # gunicorn chose not to answer
        found = _STATUS_LINE.match(bytes(kept.sent))
        status = int(found.group(1)) if found else 500
        try:
            util.write_nonblock(client, error_bytes(status, exc, self.cfg))
        except Exception:
            self.log.debug("Failed to send error message.")

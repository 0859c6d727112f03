"""Plain WSGI middleware: ``app = WorkflowStudioMiddleware(app)``.

Answers the app-side routes (see :mod:`workflow_studio.integrations.endpoints`) and passes
every other request to the wrapped app untouched. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from workflow_studio.integrations.diagnostics import AppDiagnostics
from workflow_studio.integrations.endpoints import dispatch

MAX_DISCARD = 1 << 20  # bytes of a refused callback's body read off the connection
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WorkflowStudioMiddleware:
    """Wraps a WSGI app; ``diagnostics`` is the :class:`AppDiagnostics` it serves."""

    def __init__(self, app: WSGIApp, *, directory: str | os.PathLike[str] | None = None,
                 diagnostics: AppDiagnostics | None = None) -> None:
        self.app = app
        self.diagnostics = diagnostics or AppDiagnostics(directory)

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        reply = dispatch(self.diagnostics, environ.get("REQUEST_METHOD", "GET"),
                         environ.get("PATH_INFO", "") or "/")
        if reply is None:
            return self.app(environ, start_response)
        _discard_body(environ)
        start_response(f"{reply.status} {reply.reason}", reply.headers)
        return [reply.body]


def _discard_body(environ: dict[str, Any]) -> None:
    """Read a small request body we will not use, so a kept-alive connection stays in step."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    if stream is not None and 0 < length <= MAX_DISCARD:
        stream.read(length)

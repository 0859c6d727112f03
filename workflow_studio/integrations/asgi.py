"""Plain ASGI middleware: ``app = WorkflowStudioASGIMiddleware(app)``.

Answers the app-side routes (see :mod:`workflow_studio.integrations.endpoints`) for ``http``
scopes and passes everything else (other paths, ``websocket``, ``lifespan``) to the wrapped
app. Standard library only; the counter's one-byte file append is cheap enough to run on the
event loop.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from workflow_studio.integrations.diagnostics import AppDiagnostics
from workflow_studio.integrations.endpoints import dispatch

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WorkflowStudioASGIMiddleware:
    """Wraps an ASGI app; ``diagnostics`` is the :class:`AppDiagnostics` it serves."""

    def __init__(self, app: ASGIApp, *, directory: str | os.PathLike[str] | None = None,
                 diagnostics: AppDiagnostics | None = None) -> None:
        self.app = app
        self.diagnostics = diagnostics or AppDiagnostics(directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = None
        if scope.get("type") == "http":
            reply = dispatch(self.diagnostics, scope.get("method", "GET"), scope.get("path", ""))
        if reply is None:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                for k, v in reply.headers]})
        await send({"type": "http.response.body", "body": reply.body})

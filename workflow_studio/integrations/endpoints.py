"""The app-side routes under ``/.well-known/workflow/v1/`` and their framework-free answers.

Every framework adapter turns a request into ``(method, kind)`` or ``(method, path)`` and
sends back the :class:`Reply` built here, so Flask, Django, WSGI and ASGI apps answer
byte-for-byte alike:

- ``GET /.well-known/workflow/v1/diagnostics``: the :class:`DiagnosticsReport` as JSON;
- ``/.well-known/workflow/v1/flow``, ``/step`` and ``/webhook/<token>`` (any method): with
  the remote world these must receive no traffic, so each hit is counted and answered
  409 ``unexpected_local_callback``; with the local world (which runs in-process and has no
  HTTP callbacks) they answer 404 ``not_found`` and count nothing.
"""

from __future__ import annotations

import dataclasses
import json
from enum import StrEnum
from typing import Any

from workflow_studio.integrations.diagnostics import REMOTE_WORLD, AppDiagnostics

PREFIX = "/.well-known/workflow/v1"
DIAGNOSTICS_PATH = f"{PREFIX}/diagnostics"
FLOW_PATH = f"{PREFIX}/flow"
STEP_PATH = f"{PREFIX}/step"
WEBHOOK_PREFIX = f"{PREFIX}/webhook/"
READ_METHODS = frozenset({"GET", "HEAD"})
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Route(StrEnum):
    DIAGNOSTICS = "diagnostics"
    FLOW = "flow"
    STEP = "step"
    WEBHOOK = "webhook"


@dataclasses.dataclass(frozen=True)
class Reply:
    """A JSON response: status, body and headers (``body`` is empty for HEAD)."""

    status: int
    payload: dict[str, Any]
    head_only: bool = False

    @property
    def body(self) -> bytes:
        return b"" if self.head_only else json.dumps(self.payload).encode()

    @property
    def headers(self) -> list[tuple[str, str]]:
        length = len(json.dumps(self.payload).encode())
        return [("Content-Type", "application/json"), ("Content-Length", str(length)),
                ("Cache-Control", "no-store")]

    @property
    def reason(self) -> str:
        return _REASONS.get(self.status, "")


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}


def match(path: str) -> Route | None:
    """Which app-side route ``path`` is, or None when it is none of ours."""
    if path == DIAGNOSTICS_PATH:
        return Route.DIAGNOSTICS
    if path == FLOW_PATH:
        return Route.FLOW
    if path == STEP_PATH:
        return Route.STEP
    if path.startswith(WEBHOOK_PREFIX) and len(path) > len(WEBHOOK_PREFIX):
        return Route.WEBHOOK
    return None


def answer(diagnostics: AppDiagnostics, method: str, route: Route) -> Reply:
    """The reply for a request of ``method`` to ``route``."""
    method = method.upper()
    head = method == "HEAD"
    if route is Route.DIAGNOSTICS:
        if method not in READ_METHODS:
            return Reply(405, {"code": "method_not_allowed",
                               "message": f"{DIAGNOSTICS_PATH} accepts GET only."}, head)
        return Reply(200, diagnostics.report().to_json(), head)
    if not diagnostics.remote:
        return Reply(404, {"code": "not_found", "message": (
            f"The {diagnostics.target_world!r} world runs in-process and has no HTTP "
            f"{route.value} callback.")}, head)
    diagnostics.record_unexpected_callback()
    return Reply(409, {
        "code": "unexpected_local_callback",
        "message": (f"This app runs with WORKFLOW_TARGET_WORLD={REMOTE_WORLD}: {route.value} "
                    "callbacks belong to the worker, not the app. Route queue callbacks to "
                    "the worker and run validation again."),
        "route": route.value,
    }, head)


def dispatch(diagnostics: AppDiagnostics, method: str, path: str) -> Reply | None:
    """The reply for ``path``, or None when the path is not an app-side route."""
    route = match(path)
    return None if route is None else answer(diagnostics, method, route)

"""Django views for the app-side routes; the answers come from ``endpoints.answer``.

The callback views are CSRF-exempt: a misrouted queue callback is a POST without a token,
and it must reach the view to be counted (and answered 409), not be stopped with a 403.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from workflow_studio.integrations.diagnostics import AppDiagnostics
from workflow_studio.integrations.endpoints import Reply, Route, answer


def require_django() -> None:
    if importlib.util.find_spec("django") is None:
        raise ImportError("workflow_studio.integrations.django needs Django: "
                          "pip install django")


require_django()

from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

_diagnostics: AppDiagnostics | None = None


def get_diagnostics() -> AppDiagnostics:
    """The process's :class:`AppDiagnostics` (directory from settings, read on first use)."""
    global _diagnostics
    if _diagnostics is None:
        _diagnostics = AppDiagnostics(getattr(settings, "WORKFLOW_DIAGNOSTICS_DIR", None))
    return _diagnostics


def reset_diagnostics() -> None:
    """Forget the cached :class:`AppDiagnostics` (after changing settings, e.g. in tests)."""
    global _diagnostics
    _diagnostics = None


def _respond(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status)
    for name, value in reply.headers:
        response[name] = value
    return response


def _view(route: Route) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def view(request: HttpRequest, **_: Any) -> HttpResponse:
        return _respond(answer(get_diagnostics(), request.method or "GET", route))
    view.__name__ = f"workflow_{route.value}"
    return view


diagnostics = _view(Route.DIAGNOSTICS)
flow = _view(Route.FLOW)
step = _view(Route.STEP)
webhook = _view(Route.WEBHOOK)

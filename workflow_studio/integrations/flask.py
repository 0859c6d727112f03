"""Flask extension: ``WorkflowStudio(app)`` or ``WorkflowStudio().init_app(app)``.

Registers one blueprint with the app-side routes (diagnostics plus the flow, step and webhook
callback routes, see :mod:`workflow_studio.integrations.endpoints`). The diagnostics directory
comes from the ``directory`` argument, else ``app.config["WORKFLOW_DIAGNOSTICS_DIR"]``, else
the ``WORKFLOW_DIAGNOSTICS_DIR`` variable, else ``./.workflow-studio/diagnostics``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, request

from workflow_studio.integrations.diagnostics import AppDiagnostics
from workflow_studio.integrations.endpoints import (
    ALL_METHODS,
    DIAGNOSTICS_PATH,
    FLOW_PATH,
    STEP_PATH,
    WEBHOOK_PREFIX,
    Reply,
    Route,
    answer,
)

EXTENSION_KEY = "workflow_studio_app_side"


def _respond(reply: Reply) -> Response:
    response = Response(reply.body, status=reply.status, headers=reply.headers)
    response.automatically_set_content_length = False
    return response


def _view(route: Route) -> Callable[..., Response]:
    def view(**_: str) -> Response:
        diagnostics: AppDiagnostics = current_app.extensions[EXTENSION_KEY]
        return _respond(answer(diagnostics, request.method, route))
    view.__name__ = route.value
    return view


def blueprint() -> Blueprint:
    """A fresh blueprint with the app-side routes (one per app)."""
    bp = Blueprint("workflow_studio_app_side", __name__)
    methods = [m for m in ALL_METHODS if m not in ("HEAD", "OPTIONS")]
    bp.add_url_rule(DIAGNOSTICS_PATH, view_func=_view(Route.DIAGNOSTICS), methods=methods)
    bp.add_url_rule(FLOW_PATH, view_func=_view(Route.FLOW), methods=methods)
    bp.add_url_rule(STEP_PATH, view_func=_view(Route.STEP), methods=methods)
    bp.add_url_rule(WEBHOOK_PREFIX + "<path:token>", view_func=_view(Route.WEBHOOK),
                    methods=methods)
    return bp


class WorkflowStudio:
    """The Flask extension. Each app gets its own :class:`AppDiagnostics` in
    ``app.extensions["workflow_studio_app_side"]``; ``diagnostics`` is the last one made."""

    def __init__(self, app: Flask | None = None, *,
                 directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = directory
        self.diagnostics: AppDiagnostics | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        directory = self.directory or app.config.get("WORKFLOW_DIAGNOSTICS_DIR")
        self.diagnostics = AppDiagnostics(directory)
        app.extensions[EXTENSION_KEY] = self.diagnostics
        app.register_blueprint(blueprint())

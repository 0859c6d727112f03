"""Framework helpers for the application that calls ``start(...)`` (the "app side").

They mount the app-side callback and diagnostics routes under ``/.well-known/workflow/v1/``:

- :mod:`workflow_studio.integrations.flask`: ``WorkflowStudio(app)`` Flask extension;
- :mod:`workflow_studio.integrations.wsgi`: ``WorkflowStudioMiddleware(app)`` for any WSGI app;
- :mod:`workflow_studio.integrations.asgi`: ``WorkflowStudioASGIMiddleware(app)`` for ASGI;
- :mod:`workflow_studio.integrations.django`: a Django app with ``urls.py`` (needs Django).

The facts they serve come from the framework-free :mod:`~.diagnostics` and :mod:`~.endpoints`.
"""

from workflow_studio.integrations.diagnostics import (
    REMOTE_WORLD,
    AppDiagnostics,
    CallbackCounter,
    DiagnosticsReport,
)
from workflow_studio.integrations.endpoints import DIAGNOSTICS_PATH

__all__ = ["DIAGNOSTICS_PATH", "REMOTE_WORLD", "AppDiagnostics", "CallbackCounter",
           "DiagnosticsReport"]

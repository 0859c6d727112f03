"""``urlpatterns`` for the app-side routes; include them at the site root."""

from __future__ import annotations

from workflow_studio.integrations.django.views import require_django

require_django()

from django.urls import path  # noqa: E402

from workflow_studio.integrations.django import views  # noqa: E402

app_name = "workflow_studio"

urlpatterns = [
    path(".well-known/workflow/v1/diagnostics", views.diagnostics, name="diagnostics"),
    path(".well-known/workflow/v1/flow", views.flow, name="flow"),
    path(".well-known/workflow/v1/step", views.step, name="step"),
    path(".well-known/workflow/v1/webhook/<path:token>", views.webhook, name="webhook"),
]

"""The Django ``AppConfig`` for the app-side routes (label ``workflow_studio``)."""

from __future__ import annotations

from workflow_studio.integrations.django.views import require_django

require_django()

from django.apps import AppConfig  # noqa: E402


class WorkflowStudioConfig(AppConfig):
    name = "workflow_studio.integrations.django"
    label = "workflow_studio"
    verbose_name = "Workflow Studio"

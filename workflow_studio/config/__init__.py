"""Project and worker settings: ``define_config`` for ``workflow_config.py`` and the resolved
``Settings`` every part of the worker reads. Imports nothing of the HTTP service."""

from workflow_studio.config.settings import (
    ConfigError,
    Settings,
    WorkflowStudioConfig,
    define_config,
    load_settings,
)

__all__ = ["ConfigError", "Settings", "WorkflowStudioConfig", "define_config", "load_settings"]

"""Project and worker settings: ``define_config`` for ``workflow_config.py`` and the resolved
``Settings`` every part of the worker reads. Imports nothing of the HTTP service.

``model`` holds the resolved shapes, ``kinds`` the value checks, ``table`` every setting once,
``files`` the config file, ``settings`` the merge of the three sources, ``docs`` the README
tables.
"""

from workflow_studio.config.settings import (
    ConfigError,
    Settings,
    WorkflowStudioConfig,
    define_config,
    load_settings,
)

__all__ = ["ConfigError", "Settings", "WorkflowStudioConfig", "define_config", "load_settings"]

"""The strict remote guard: a production worker must agree on the target world."""

from __future__ import annotations

import os
from collections.abc import Mapping

from workflow_studio.config.settings import ConfigError, Settings


def check_target_world(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError when WORKFLOW_ENV=production and WORKFLOW_TARGET_WORLD mismatches."""
    environ = os.environ if environ is None else environ
    if environ.get("WORKFLOW_ENV", "").strip().lower() != "production":
        return
    actual = environ.get("WORKFLOW_TARGET_WORLD", "")
    expected = settings.expected_target_world
    if actual != expected:
        shown = repr(actual) if actual else "not set"
        raise ConfigError(
            f"Strict remote guard: WORKFLOW_TARGET_WORLD is {shown} but this production worker "
            f"expects {expected!r}; set WORKFLOW_TARGET_WORLD={expected}"
        )

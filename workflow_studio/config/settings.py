"""Worker settings: ``define_config(...)`` in ``workflow_config.py``, then env, then options.

Precedence, lowest first: the defaults on ``Settings``, the config file, environment
variables, explicit options (``create_compute_worker(**options)``, or the JSON object in
``WORKFLOW_STUDIO_OPTIONS``). Each source is read through the same ``config.table`` entry per
setting, so the bounds are the same everywhere; every problem is a one-line ``ConfigError``
naming the source and the setting (``options: threads: expected int, got str``).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from workflow_studio.config.files import CONFIG_FILENAME, find_config_file, read_config_file
from workflow_studio.config.kinds import WEBHOOK_PROVIDERS, got, resolve_callable
from workflow_studio.config.model import (
    DEFAULT_DATA_DIR,
    MIN_KEY_LENGTH,
    OPTIONS_ENV,
    REMOTE_WORLD,
    ConfigError,
    SeedKey,
    Settings,
    WorkflowStudioConfig,
)
from workflow_studio.config.table import (
    API_KEY_ENV,
    BY_ENV,
    BY_FIELD,
    BY_PATH,
    SECTIONS,
    WEBHOOK_SECRET_ENV,
)

__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_DATA_DIR",
    "OPTIONS_ENV",
    "REMOTE_WORLD",
    "WEBHOOK_PROVIDERS",
    "ConfigError",
    "SeedKey",
    "Settings",
    "WorkflowStudioConfig",
    "define_config",
    "find_config_file",
    "load_settings",
    "read_config_file",
    "resolve_callable",
]


def define_config(**sections: Any) -> WorkflowStudioConfig:
    """Declare the project's settings in ``workflow_config.py``.

    Example::

        config = define_config(
            workflows=["myapp.workflows"],
            worker={"storage": {"sqlite_path": "data/worker.db"},
                    "security": {"require_https": True}},
        )
    """
    values: dict[str, Any] = {}
    _read_section(sections, "", values)
    return WorkflowStudioConfig(MappingProxyType(values))


def _read_section(given: Mapping[Any, object], section: str, out: dict[str, Any]) -> None:
    for name, value in given.items():
        path = f"{section}.{name}" if section else str(name)
        setting = BY_PATH.get(path)
        if setting is not None:
            out[setting.field] = setting.check(value, path)
        elif path in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path}: expected a mapping, got {got(value)}")
            _read_section(value, path, out)
        else:
            hint = difflib.get_close_matches(str(name), SECTIONS[section], n=1)
            where = f"{section}." if section else ""
            extra = f" (did you mean {where}{hint[0]}?)" if hint else ""
            raise ConfigError(f"{path}: unknown setting{extra}")


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings that have a variable; a variable set to an empty string counts as unset."""
    return {setting.field: setting.parse_env(environ[var])
            for var, setting in BY_ENV.items() if environ.get(var, "").strip()}


def _env_webhook_secrets(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    given = {provider: environ[WEBHOOK_SECRET_ENV + provider.upper()]
             for provider in WEBHOOK_PROVIDERS
             if environ.get(WEBHOOK_SECRET_ENV + provider.upper(), "").strip()}
    checked: dict[str, dict[str, str]] = BY_FIELD["webhooks"].check(
        given, WEBHOOK_SECRET_ENV + "<PROVIDER>")
    return checked


def _from_options(options: Mapping[str, object], source: str) -> dict[str, Any]:
    """Flat options by ``Settings`` field name; ``source`` starts every error."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        setting = BY_FIELD.get(name)
        if setting is None:
            hint = difflib.get_close_matches(str(name), list(BY_FIELD), n=1)
            extra = f" (did you mean {hint[0]}?)" if hint else ""
            raise ConfigError(f"{source}: {name}: unknown option{extra}")
        out[name] = setting.check(value, f"{source}: {name}")
    return out


def _options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    raw = environ.get(OPTIONS_ENV, "")
    if not raw.strip():
        return {}
    try:
        options = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{OPTIONS_ENV}: not valid JSON") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{OPTIONS_ENV}: expected a JSON object, got {got(options)}")
    return _from_options(options, OPTIONS_ENV)


def _env_seed_key(environ: Mapping[str, str], values: Mapping[str, Any]) -> tuple[SeedKey, ...]:
    """``WORKFLOW_COMPUTE_API_KEY`` as one more seed key, with the configured scopes."""
    key = environ.get(API_KEY_ENV, "")
    if not key:
        return ()
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"{API_KEY_ENV}: must be at least {MIN_KEY_LENGTH} characters")
    scopes = values.get("env_api_key_scopes", Settings.env_api_key_scopes)
    return (SeedKey(key=key, scopes=tuple(scopes), name=API_KEY_ENV),)


def load_settings(config_path: str | None = None, options: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from file, environment and options (see the module docstring).
    Without ``options``, those in ``WORKFLOW_STUDIO_OPTIONS`` are used."""
    environ = os.environ if environ is None else environ
    path = find_config_file(config_path, environ)
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_config_file(path).values)
    values.update(_from_env(environ))
    secrets = _env_webhook_secrets(environ)
    if secrets:  # WORKFLOW_WEBHOOK_SECRET_<PROVIDER> overrides that provider's secret
        values["webhooks"] = {**values.get("webhooks", {}), **secrets}
    values.update(_options_from_env(environ) if options is None
                  else _from_options(options, "options"))
    values["seed_api_keys"] = (*values.get("seed_api_keys", ()), *_env_seed_key(environ, values))
    return Settings(base_dir=str(path.parent) if path else os.getcwd(), **values)

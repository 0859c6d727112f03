"""Worker settings: ``define_config(...)`` in ``workflow_config.py``, then env, then options.

Precedence, lowest first: built-in defaults, the config file, environment variables, explicit
options (``create_compute_worker(**options)``). Every problem is a ``ConfigError`` whose
message is one line naming the setting, so startup can print it and exit 2 without a
traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import ipaddress
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workflow_studio.compute.scopes import ALL_SCOPES

CONFIG_FILENAME = "workflow_config.py"
DEFAULT_DATA_DIR = ".workflow-studio"
REMOTE_WORLD = "workflow-studio/world-remote"
OPTIONS_ENV = "WORKFLOW_STUDIO_OPTIONS"


class ConfigError(Exception):
    """A setting is wrong; the message names it and fits on one line."""


@dataclasses.dataclass(frozen=True)
class SeedKey:
    key: str
    scopes: tuple[str, ...] = ("admin",)
    name: str = "seed"
    rate_limit_per_minute: int | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the worker needs, resolved and validated."""

    base_dir: str = "."
    workflows: tuple[str, ...] = ()
    seed_api_keys: tuple[SeedKey, ...] = ()
    env_api_key_scopes: tuple[str, ...] = ("admin",)
    sqlite_path: str = f"{DEFAULT_DATA_DIR}/worker.db"
    artifact_dir: str = f"{DEFAULT_DATA_DIR}/artifacts"
    postgres_url: str | None = None
    postgres_schema: str = "workflow_studio"
    require_https: bool = False
    trusted_proxies: tuple[str, ...] = ()
    rate_limit_per_minute: int = 6000
    expected_target_world: str = REMOTE_WORLD
    on_webhook: Any = None
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 2
    threads: int = 4
    log_level: str = "INFO"
    max_artifact_bytes: int = 64 * 1024 * 1024
    max_unpacked_bytes: int = 256 * 1024 * 1024
    max_artifact_files: int = 2000
    activation_timeout: float = 60.0
    executor_slots: int = 4
    lease_seconds: float = 30.0
    idempotency_retention_seconds: int = 24 * 3600
    webhooks: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    secret_key: str | None = None
    public_base_url: str | None = None

    def resolve(self, path: str) -> str:
        """An absolute path for a setting given relative to the config file's folder."""
        return str((Path(self.base_dir) / path).resolve())

    @property
    def sqlite_file(self) -> str:
        return self.resolve(self.sqlite_path)

    @property
    def artifact_path(self) -> str:
        return self.resolve(self.artifact_dir)


# Setting name -> (expected python types, field on Settings). Nested sections are dicts.
_STR, _INT, _BOOL, _LIST = (str,), (int,), (bool,), (list, tuple)
_SCHEMA: dict[str, Any] = {
    "workflows": (_LIST, "workflows"),
    "worker": {
        "auth": {
            "seed_api_keys": (_LIST, "seed_api_keys"),
            "env_api_key_scopes": (_LIST, "env_api_key_scopes"),
        },
        "storage": {
            "sqlite_path": (_STR, "sqlite_path"),
            "artifact_dir": (_STR, "artifact_dir"),
            "postgres_url": (_STR, "postgres_url"),
            "postgres_schema": (_STR, "postgres_schema"),
            "max_artifact_bytes": (_INT, "max_artifact_bytes"),
            "max_unpacked_bytes": (_INT, "max_unpacked_bytes"),
            "max_artifact_files": (_INT, "max_artifact_files"),
        },
        "security": {
            "require_https": (_BOOL, "require_https"),
            "trusted_proxies": (_LIST, "trusted_proxies"),
        },
        "rate_limit_per_minute": (_INT, "rate_limit_per_minute"),
        "expected_target_world": (_STR, "expected_target_world"),
        "on_webhook": ((str,), "on_webhook"),
        "host": (_STR, "host"),
        "port": (_INT, "port"),
        "workers": (_INT, "workers"),
        "threads": (_INT, "threads"),
        "log_level": (_STR, "log_level"),
        "activation_timeout": ((int, float), "activation_timeout"),
        "executor": {
            "slots": (_INT, "executor_slots"),
            "lease_seconds": ((int, float), "lease_seconds"),
        },
        "idempotency_retention_seconds": (_INT, "idempotency_retention_seconds"),
        "webhooks": ((dict,), "webhooks"),
        "secret_key": (_STR, "secret_key"),
        "public_base_url": (_STR, "public_base_url"),
    },
}

# Flat option names accepted by create_compute_worker(**options) (seed 001, snake_case).
OPTION_FIELDS = {
    f.name for f in dataclasses.fields(Settings) if f.name not in ("base_dir",)
} | {"world", "compute"}


@dataclasses.dataclass(frozen=True)
class WorkflowStudioConfig:
    """What ``define_config`` returns: the validated, still-unresolved file settings."""

    values: Mapping[str, Any]


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
    _flatten(sections, _SCHEMA, "", values)
    return WorkflowStudioConfig(values)


def _flatten(given: Mapping[str, Any], schema: Mapping[str, Any], prefix: str,
             out: dict[str, Any]) -> None:
    for name, value in given.items():
        path = f"{prefix}{name}"
        if name not in schema:
            hint = difflib.get_close_matches(name, list(schema), n=1)
            extra = f" (did you mean {prefix}{hint[0]}?)" if hint else ""
            raise ConfigError(f"{path}: unknown setting{extra}")
        spec = schema[name]
        if isinstance(spec, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
            _flatten(value, spec, f"{path}.", out)
            continue
        types, field = spec
        if name == "on_webhook" and callable(value):
            out[field] = value
            continue
        if value is None and field in ("postgres_url", "on_webhook", "secret_key",
                                       "public_base_url"):
            out[field] = None
            continue
        if not isinstance(value, types) or (type(value) is bool and bool not in types):
            want = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{path}: expected {want}, got {type(value).__name__}")
        out[field] = _coerce(path, field, value)


def _coerce(path: str, field: str, value: Any) -> Any:
    if field == "webhooks":
        return _webhooks(path, value)
    if field == "secret_key" and len(value) < 16:
        raise ConfigError(f"{path}: expected a string of at least 16 characters")
    if field == "public_base_url":
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"{path}: expected an http:// or https:// URL")
        return value.rstrip("/")
    if field == "seed_api_keys":
        return tuple(_seed_key(f"{path}[{i}]", item) for i, item in enumerate(value))
    if field in ("env_api_key_scopes",):
        return _scopes(path, value)
    if field in ("workflows", "trusted_proxies"):
        for item in value:
            if not isinstance(item, str):
                raise ConfigError(f"{path}: expected a list of strings")
        return tuple(value)
    if field in ("rate_limit_per_minute", "max_artifact_bytes", "max_unpacked_bytes",
                 "max_artifact_files", "workers", "threads") and value < 0:
        raise ConfigError(f"{path}: must not be negative")
    if field == "port" and not 0 <= value <= 65535:
        raise ConfigError(f"{path}: must be a port number (0-65535)")
    return value


WEBHOOK_PROVIDERS = ("github", "stripe", "standard", "hmac")


def _webhooks(path: str, value: Any) -> dict[str, dict[str, str]]:
    """``{"github": {"secret": "..."}, ...}``; providers are the verifiers' names."""
    out: dict[str, dict[str, str]] = {}
    for provider, entry in value.items():
        if provider not in WEBHOOK_PROVIDERS:
            raise ConfigError(f"{path}.{provider}: unknown webhook provider (known: "
                              f"{', '.join(WEBHOOK_PROVIDERS)})")
        if isinstance(entry, str):
            entry = {"secret": entry}
        if not isinstance(entry, Mapping) or set(entry) - {"secret"}:
            raise ConfigError(f"{path}.{provider}: expected {{'secret': '...'}}")
        secret = entry.get("secret")
        if not isinstance(secret, str) or not secret:
            raise ConfigError(f"{path}.{provider}.secret: expected a non-empty string")
        out[provider] = {"secret": secret}
    return out


def _scopes(path: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    for scope in value:
        if scope not in ALL_SCOPES:
            raise ConfigError(f"{path}: unknown scope {scope!r} (known: {', '.join(ALL_SCOPES)})")
    return tuple(value)


def _seed_key(path: str, item: Any) -> SeedKey:
    if isinstance(item, str):
        item = {"key": item}
    if not isinstance(item, Mapping):
        raise ConfigError(f"{path}: expected a mapping with 'key' and 'scopes'")
    unknown = set(item) - {"key", "scopes", "name", "rate_limit_per_minute"}
    if unknown:
        raise ConfigError(f"{path}.{sorted(unknown)[0]}: unknown setting")
    key = item.get("key")
    if not isinstance(key, str) or len(key) < 16:
        raise ConfigError(f"{path}.key: expected a string of at least 16 characters")
    limit = item.get("rate_limit_per_minute")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"{path}.rate_limit_per_minute: expected a non-negative integer")
    return SeedKey(
        key=key,
        scopes=_scopes(f"{path}.scopes", item.get("scopes", ["admin"])),
        name=str(item.get("name", "seed")),
        rate_limit_per_minute=limit,
    )


def find_config_file(explicit: str | None = None) -> Path | None:
    """The config file: ``explicit``, ``$WORKFLOW_STUDIO_CONFIG`` or ./workflow_config.py."""
    chosen = explicit or os.environ.get("WORKFLOW_STUDIO_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {chosen}: not found or not a file")
        return path.resolve()
    default = Path.cwd() / CONFIG_FILENAME
    return default.resolve() if default.is_file() else None


def read_config_file(path: Path) -> WorkflowStudioConfig:
    """Execute ``path`` and return the config it declares (its ``config`` variable)."""
    spec = importlib.util.spec_from_file_location("workflow_config", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"config file {path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    except SyntaxError as exc:
        raise ConfigError(f"{path.name}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(
            f"{path.name}:{frame.lineno}: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    found = [v for v in vars(module).values() if isinstance(v, WorkflowStudioConfig)]
    if not found:
        raise ConfigError(
            f"{path.name}: declares no config (expected `config = define_config(...)`)")
    return found[0]


def _env_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _env_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name}: must not be negative")
    return value


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "PORT" in environ:
        out["port"] = _env_int("PORT", environ["PORT"])
        if out["port"] > 65535:
            raise ConfigError("PORT: must be a port number (0-65535)")
    for var, field in (("WORKFLOW_POSTGRES_URL", "postgres_url"),
                       ("WORKFLOW_POSTGRES_SCHEMA", "postgres_schema"),
                       ("WORKFLOW_SQLITE_PATH", "sqlite_path"),
                       ("WORKFLOW_ARTIFACT_DIR", "artifact_dir")):
        if environ.get(var):
            out[field] = environ[var]
    if "WORKFLOW_REQUIRE_HTTPS" in environ:
        out["require_https"] = _env_bool("WORKFLOW_REQUIRE_HTTPS",
                                         environ["WORKFLOW_REQUIRE_HTTPS"])
    if "WORKFLOW_RATE_LIMIT_PER_MINUTE" in environ:
        out["rate_limit_per_minute"] = _env_int("WORKFLOW_RATE_LIMIT_PER_MINUTE",
                                                environ["WORKFLOW_RATE_LIMIT_PER_MINUTE"])
    for var, field in (("WORKFLOW_SECRET_KEY", "secret_key"),
                       ("WORKFLOW_PUBLIC_BASE_URL", "public_base_url")):
        if environ.get(var):
            out[field] = _coerce(var, field, environ[var])
    secrets = {p: environ[f"WORKFLOW_WEBHOOK_SECRET_{p.upper()}"] for p in WEBHOOK_PROVIDERS
               if environ.get(f"WORKFLOW_WEBHOOK_SECRET_{p.upper()}")}
    if secrets:
        out["webhook_secrets_env"] = secrets
    if environ.get("WORKFLOW_LOG_LEVEL"):
        out["log_level"] = environ["WORKFLOW_LOG_LEVEL"]
    if environ.get("WORKFLOW_TRUSTED_PROXIES"):
        proxies = environ["WORKFLOW_TRUSTED_PROXIES"].replace(",", " ").split()
        out["trusted_proxies"] = tuple(proxies)
    return out


def _from_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in OPTION_FIELDS:
            hint = difflib.get_close_matches(name, sorted(OPTION_FIELDS), n=1)
            extra = f" (did you mean {hint[0]}?)" if hint else ""
            raise ConfigError(f"{name}: unknown option{extra}")
        if name in ("world", "compute"):
            continue  # pluggable slots reserved for the engine issue
        if name == "seed_api_keys":
            value = tuple(_seed_key(f"seed_api_keys[{i}]", k) for i, k in enumerate(value))
        elif name in ("trusted_proxies", "workflows") and value is not None:
            value = tuple(value)
        elif name in ("webhooks", "secret_key", "public_base_url") and value is not None:
            value = _coerce(name, name, value)
        out[name] = value
    return out


def load_settings(config_path: str | None = None, options: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from file, environment and options (see the module docstring)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = find_config_file(config_path or environ.get("WORKFLOW_STUDIO_CONFIG"))
    base_dir = str(path.parent) if path else os.getcwd()
    if path is not None:
        values.update(read_config_file(path).values)
    values.update(_from_env(environ))
    env_secrets = values.pop("webhook_secrets_env", {})
    if env_secrets:  # WORKFLOW_WEBHOOK_SECRET_<PROVIDER> overrides that provider's secret
        values["webhooks"] = {**values.get("webhooks", {}),
                              **{p: {"secret": s} for p, s in env_secrets.items()}}
    if options is None and environ.get(OPTIONS_ENV):
        try:
            options = json.loads(environ[OPTIONS_ENV])
        except ValueError:
            raise ConfigError(f"{OPTIONS_ENV}: not valid JSON") from None
    values.update(_from_options(options or {}))
    seeds = list(values.get("seed_api_keys", ()))
    env_key = environ.get("WORKFLOW_COMPUTE_API_KEY")
    if env_key:
        if len(env_key) < 16:
            raise ConfigError("WORKFLOW_COMPUTE_API_KEY: must be at least 16 characters")
        scopes = values.get("env_api_key_scopes", ("admin",))
        seeds.append(SeedKey(key=env_key, scopes=tuple(scopes), name="WORKFLOW_COMPUTE_API_KEY"))
    values["seed_api_keys"] = tuple(seeds)
    _check_log_level(values)
    _check_proxies(values.get("trusted_proxies", ()))
    return Settings(base_dir=base_dir, **values)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_log_level(values: dict[str, Any]) -> None:
    level = str(values.get("log_level", "INFO")).strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"log level (worker.log_level / WORKFLOW_LOG_LEVEL): expected one "
                          f"of {', '.join(_LOG_LEVELS)}, got {values.get('log_level')!r}")
    values["log_level"] = level


def _check_proxies(proxies: tuple[str, ...]) -> None:
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"trusted proxies (worker.security.trusted_proxies / "
                              f"WORKFLOW_TRUSTED_PROXIES): {proxy!r} is not an IP address or "
                              "network") from None


def resolve_callable(target: Any) -> Callable[..., Any] | None:
    """Turn ``"pkg.module:function"`` (or a callable) into the callable."""
    if target is None or callable(target):
        return target
    module_name, _, attr = str(target).partition(":")
    if not attr:
        module_name, _, attr = str(target).rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"on_webhook: cannot import {target!r} ({exc})") from None

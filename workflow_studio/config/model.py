"""What resolved settings look like: ``Settings``, ``SeedKey``, ``ConfigError`` and the names
the rest of the package agrees on. No parsing lives here, so every module can import it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workflow_studio.compute.manifest import SecretRef
from workflow_studio.compute.payloads import DEFAULT_MAX_BYTES

DEFAULT_DATA_DIR = ".workflow-studio"
REMOTE_WORLD = "workflow-studio/world-remote"
CONFIG_ENV = "WORKFLOW_STUDIO_CONFIG"
OPTIONS_ENV = "WORKFLOW_STUDIO_OPTIONS"
MIN_KEY_LENGTH = 16  # seed API keys and the hook-signing secret_key


class ConfigError(Exception):
    """A setting is wrong; the message names the setting and its source on one line, so
    startup can print it and exit 2 without a traceback."""


@dataclasses.dataclass(frozen=True)
class SeedKey:
    """An API key declared in config (or ``WORKFLOW_COMPUTE_API_KEY``), synced at startup."""

    key: str
    scopes: tuple[str, ...] = ("admin",)
    name: str = "seed"
    rate_limit_per_minute: int | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the worker needs, resolved and validated. The defaults here are the only
    copy of each default: ``config.table`` reads them for its docs."""

    base_dir: str = "."
    workflows: tuple[str, ...] = ()
    requirements: tuple[str, ...] | str = ()  # a str: the path of a requirements.txt
    secrets: tuple[SecretRef, ...] = ()
    schedules: tuple[Mapping[str, Any], ...] = ()  # API-shaped; see config.schedules
    build_find_links: tuple[str, ...] = ()
    build_no_index: bool = False
    seed_api_keys: tuple[SeedKey, ...] = ()
    env_api_key_scopes: tuple[str, ...] = ("admin",)
    sqlite_path: str = f"{DEFAULT_DATA_DIR}/worker.db"
    artifact_dir: str = f"{DEFAULT_DATA_DIR}/artifacts"
    postgres_url: str | None = None
    postgres_schema: str = "workflow_studio"
    lock_timeout: float = 2.0
    statement_timeout: float = 30.0
    idle_in_transaction_timeout: float = 10.0
    stuck_timeout: float = 8.0
    require_https: bool = False
    trusted_proxies: tuple[str, ...] = ()
    auth_failures_per_minute: int = 20
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
    max_json_bytes: int = 1024 * 1024
    max_webhook_bytes: int = 5 * 1024 * 1024
    max_payload_bytes: int = DEFAULT_MAX_BYTES
    activation_timeout: float = 60.0
    executor_slots: int = 4
    lease_seconds: float = 30.0
    idempotency_retention_seconds: int = 24 * 3600
    retention_audit_days: int = 90
    retention_schedule_ticks_days: int = 30
    env_passthrough: tuple[str, ...] = ()
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


@dataclasses.dataclass(frozen=True)
class WorkflowStudioConfig:
    """What ``define_config`` returns: the file's validated values by ``Settings`` field,
    not yet merged with the environment or options."""

    values: Mapping[str, Any]

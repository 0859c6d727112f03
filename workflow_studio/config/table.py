"""The settings table: every setting once, with its file path, option name, env var, kind and
doc. The config file, the environment and options are all read through it, so a bound or an
error message is written once and holds for every source; the README's tables are generated
from it (``config.docs``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from workflow_studio.config.deployment_kinds import Requirements, SecretDeclarations
from workflow_studio.config.kinds import (
    WEBHOOK_PROVIDERS,
    Bool,
    CallableRef,
    Choice,
    Int,
    Invalid,
    Kind,
    Nullable,
    Seconds,
    SeedKeys,
    Strings,
    Text,
    Url,
    Webhooks,
    networks,
    scopes,
    variable_names,
)
from workflow_studio.config.model import CONFIG_ENV, MIN_KEY_LENGTH, OPTIONS_ENV, Settings
from workflow_studio.config.schedules import ScheduleDefinitions

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DEFAULTS: Mapping[str, object] = MappingProxyType({
    f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    for f in dataclasses.fields(Settings)
})


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting. ``field`` is both the ``Settings`` attribute and the option name;
    ``path`` is where it sits in ``define_config(...)``; ``env`` its variable, if any."""

    field: str
    path: str
    kind: Kind
    doc: str
    env: str | None = None

    @property
    def option(self) -> str:
        return self.field

    @property
    def default(self) -> object:
        return _DEFAULTS[self.field]

    def check(self, value: object, name: str) -> Any:
        """``value`` from the file or options; ``name`` is how errors call it there."""
        try:
            return self.kind.check(value)
        except Invalid as exc:
            raise exc.named(name) from None

    def parse_env(self, raw: str) -> Any:
        """The string ``raw`` of ``self.env``, parsed, then checked like any other value."""
        name = self.env or self.field
        try:
            return self.kind.check(self.kind.parse(raw))
        except Invalid as exc:
            raise exc.named(name) from None


_S = Setting
SETTINGS: tuple[Setting, ...] = (
    _S("workflows", "workflows", Strings(),
       "packages with your `@workflow`/`@step` functions, for `workflow-studio build`"),
    _S("requirements", "requirements", Requirements(),
       "third-party packages the deployment imports (requirement strings, or the path of a "
       "requirements.txt beside the config file); `workflow-studio build` ships them as wheels"),
    _S("secrets", "secrets", SecretDeclarations(),
       "named secrets the deployment's steps read with `ws.secret(name)`; "
       "`{\"name\": ..., \"as_env\": True}` also shows one in their `os.environ`"),
    _S("schedules", "schedules", ScheduleDefinitions(),
       "cron/interval schedules shipped with the deployment: `{name, workflow, cron, "
       "timezone, ...}` (README, Schedules); activating it creates or updates them"),
    _S("build_find_links", "build.find_links", Strings(),
       "directories (relative to the config file) or URLs where `build` looks for wheels "
       "besides the package index (pip's `--find-links`)"),
    _S("build_no_index", "build.no_index", Bool(),
       "`build` resolves `requirements` from `build.find_links` alone (pip's `--no-index`)"),
    _S("seed_api_keys", "worker.auth.seed_api_keys", SeedKeys(),
       "API keys kept in the database at startup; a key removed here is revoked"),
    _S("env_api_key_scopes", "worker.auth.env_api_key_scopes",
       Strings(scopes, "list of scopes", split=True),
       "scopes of the `WORKFLOW_COMPUTE_API_KEY` key"),
    _S("sqlite_path", "worker.storage.sqlite_path", Text(),
       "SQLite file of the embedded default (relative to the config file)",
       "WORKFLOW_SQLITE_PATH"),
    _S("artifact_dir", "worker.storage.artifact_dir", Text(),
       "where deployments are unpacked (a local cache on PostgreSQL)", "WORKFLOW_ARTIFACT_DIR"),
    _S("postgres_url", "worker.storage.postgres_url", Nullable(Text()),
       "PostgreSQL (libpq URL) for the world and the shared control plane; unset: SQLite",
       "WORKFLOW_POSTGRES_URL"),
    _S("postgres_schema", "worker.storage.postgres_schema", Text(),
       "schema; give each environment that shares one database its own",
       "WORKFLOW_POSTGRES_SCHEMA"),
    _S("lock_timeout", "worker.storage.lock_timeout", Seconds(),
       "seconds a write waits for a lock (the SQLite writer lock; PostgreSQL's `lock_timeout`) "
       "before it gives up, writing nothing: 503 `database_busy`, executors back off"),
    _S("statement_timeout", "worker.storage.statement_timeout", Seconds(),
       "PostgreSQL: the sessions' `statement_timeout`"),
    _S("idle_in_transaction_timeout", "worker.storage.idle_in_transaction_timeout", Seconds(),
       "PostgreSQL: the sessions' `idle_in_transaction_session_timeout` (the server ends the "
       "session of a process stopped inside a transaction, and its locks go)"),
    _S("max_artifact_bytes", "worker.storage.max_artifact_bytes", Int(0),
       "largest artifact upload accepted"),
    _S("max_unpacked_bytes", "worker.storage.max_unpacked_bytes", Int(0),
       "largest unpacked size of an artifact"),
    _S("max_artifact_files", "worker.storage.max_artifact_files", Int(1),
       "most files in an artifact"),
    _S("max_json_bytes", "worker.limits.max_json_bytes", Int(1024),
       "largest request body of every route but uploads and webhooks (413 "
       "`payload_too_large`)", "WORKFLOW_MAX_JSON_BYTES"),
    _S("max_webhook_bytes", "worker.limits.max_webhook_bytes", Int(1024),
       "largest body of `POST /v1/webhooks/<provider>` and `/v1/hooks/<token>`"),
    _S("max_payload_bytes", "worker.limits.max_payload_bytes", Int(1024),
       "largest run input, step input or output, stream chunk or hook payload, as JSON",
       "WORKFLOW_MAX_PAYLOAD_BYTES"),
    _S("require_https", "worker.security.require_https", Bool(),
       "plain HTTP from a non-local client gets 403 `https_required`", "WORKFLOW_REQUIRE_HTTPS"),
    _S("trusted_proxies", "worker.security.trusted_proxies",
       Strings(networks, "list of IPs/CIDRs"),
       "proxies whose `X-Forwarded-Proto` is believed (env: comma or space separated)",
       "WORKFLOW_TRUSTED_PROXIES"),
    _S("auth_failures_per_minute", "worker.security.auth_failures_per_minute", Int(0),
       "failed authentications a client address (or a key prefix) may have per minute; "
       "then 429 `rate_limited` until the minute ends; 0 disables"),
    _S("rate_limit_per_minute", "worker.rate_limit_per_minute", Int(0),
       "requests per key per minute; 0 disables; keys may override",
       "WORKFLOW_RATE_LIMIT_PER_MINUTE"),
    _S("expected_target_world", "worker.expected_target_world", Text(),
       "what `WORKFLOW_TARGET_WORLD` must be when `WORKFLOW_ENV=production`"),
    _S("on_webhook", "worker.on_webhook", Nullable(CallableRef()),
       "handler called with each verified webhook delivery"),
    _S("host", "worker.host", Text(), "address gunicorn binds"),
    _S("port", "worker.port", Int(0, 65535, rule="must be a port number (0-65535)"),
       "listen port", "PORT"),
    _S("workers", "worker.workers", Int(1), "gunicorn worker processes", "WORKFLOW_WORKERS"),
    _S("threads", "worker.threads", Int(1), "request threads per worker process",
       "WORKFLOW_THREADS"),
    _S("stuck_timeout", "worker.stuck_timeout", Seconds(),
       "seconds a worker process may hold the SQLite writer lock, or go without gunicorn's "
       "heartbeat (its worker `timeout`), before it is logged and replaced"),
    _S("log_level", "worker.log_level", Choice(LOG_LEVELS), "level of the worker's logs",
       "WORKFLOW_LOG_LEVEL"),
    _S("activation_timeout", "worker.activation_timeout", Seconds(),
       "seconds activation may spend proving an artifact imports"),
    _S("executor_slots", "worker.executor.slots", Int(1),
       "flows and steps executed at once per worker process", "WORKFLOW_EXECUTOR_SLOTS"),
    _S("lease_seconds", "worker.executor.lease_seconds", Seconds(),
       "seconds a dead process's claims are held before another takes them over"),
    _S("idempotency_retention_seconds", "worker.idempotency_retention_seconds", Int(1),
       "seconds an `Idempotency-Key` replays its first response"),
    _S("retention_audit_days", "worker.retention.audit_days", Int(0),
       "days audit rows and webhook delivery records are kept; 0 keeps them forever"),
    _S("retention_schedule_ticks_days", "worker.retention.schedule_ticks_days", Int(0),
       "days a schedule's tick records (fired, skipped and why) are kept; 0 keeps them"),
    _S("env_passthrough", "worker.execution.env_passthrough",
       Strings(variable_names, "list of variable names"),
       "variables deployed code sees besides PATH, HOME, locale, TZ and TMPDIR (see "
       "Security model); never a worker secret", "WORKFLOW_ENV_PASSTHROUGH"),
    _S("webhooks", "worker.webhooks", Webhooks(),
       "provider secrets (" + ", ".join(WEBHOOK_PROVIDERS) + ")"),
    _S("secret_key", "worker.secret_key", Nullable(Text(MIN_KEY_LENGTH)),
       "signs hook URLs and derives run keys; generated and stored in the database if unset",
       "WORKFLOW_SECRET_KEY"),
    _S("public_base_url", "worker.public_base_url", Nullable(Url()),
       "the worker's public URL, for `create_webhook()` URLs", "WORKFLOW_PUBLIC_BASE_URL"),
)


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """An environment variable that is not simply one setting (it adds to one, or is read
    by the guard or the loader itself)."""

    name: str
    doc: str
    adds_to: str = ""


WEBHOOK_SECRET_ENV = "WORKFLOW_WEBHOOK_SECRET_"
API_KEY_ENV = "WORKFLOW_COMPUTE_API_KEY"
OTHER_ENV: tuple[EnvVar, ...] = (
    EnvVar(API_KEY_ENV, f"seeded as a key of `worker.auth.env_api_key_scopes` (default "
                        f"`admin`); at least {MIN_KEY_LENGTH} characters",
           "worker.auth.seed_api_keys"),
    EnvVar(WEBHOOK_SECRET_ENV + "<PROVIDER>", "that provider's secret (`GITHUB`, `STRIPE`, "
           "`STANDARD`, `HMAC`), over the file's", "worker.webhooks"),
    EnvVar("WORKFLOW_ENV", "`production` turns on the strict remote guard (below)"),
    EnvVar("WORKFLOW_TARGET_WORLD", "checked by the strict remote guard"),
    EnvVar(CONFIG_ENV, "the config file (default `./workflow_config.py`)"),
    EnvVar(OPTIONS_ENV, "options as a JSON object (how `start_compute_worker_server` hands "
                        "them to gunicorn)"),
)


def _index(key: str) -> Mapping[str, Setting]:
    return MappingProxyType({getattr(s, key): s for s in SETTINGS if getattr(s, key)})


BY_FIELD = _index("field")
BY_PATH = _index("path")
BY_ENV = _index("env")


def _sections() -> Mapping[str, tuple[str, ...]]:
    """Section path ("" for the top) -> the names directly under it, in table order."""
    children: dict[str, list[str]] = {"": []}
    for setting in SETTINGS:
        parts = setting.path.split(".")
        for depth, name in enumerate(parts):
            section = ".".join(parts[:depth])
            children.setdefault(section, [])
            if name not in children[section]:
                children[section].append(name)
    return MappingProxyType({k: tuple(v) for k, v in children.items()})


SECTIONS = _sections()

"""Ownership validation: is the worker ready, and does the app route workflow work to it?

Used by ``workflow-studio compute validate-ownership`` and callable from Python runbooks
(``validate_ownership(url, api_key, app_url)``).
Each check is one :class:`Check` row (``pass``/``fail``/``skip``) with a detail and, when it
fails, the operator runbook's action. Nothing here raises for an unreachable worker or app or
for a worker error: every failure becomes a failed row, so the report is always complete.

Checks, in order: the worker answers ``GET /v1/health``; the key is valid and has the scopes
an app needs (``GET /v1/keys/self``); a deployment is active; and, given the app's base URL,
the app's diagnostics (``/.well-known/workflow/v1/diagnostics``) show the remote world, a
configured worker URL and key, and no unexpected local callback hits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

from workflow_studio.client.client import ComputeClient
from workflow_studio.client.errors import (
    ComputeClientError,
    ConnectionComputeClientError,
    MissingScopeComputeClientError,
    NotFoundComputeClientError,
)
from workflow_studio.client.retry import NO_RETRY
from workflow_studio.compute.errors import runbook_action
from workflow_studio.compute.scopes import Scope
from workflow_studio.integrations.diagnostics import REMOTE_WORLD
from workflow_studio.integrations.endpoints import DIAGNOSTICS_PATH

PASS, FAIL, SKIP = "pass", "fail", "skip"
APP_SCOPES = (Scope.TRIGGER_WRITE.value, Scope.RUNS_READ.value)
WORKER_DOWN_ACTION = ("Start the worker (`workflow-studio worker start`) or fix --url, then "
                      "check GET /v1/health.")
MOUNT_ACTION = ("Mount the app-side routes (Flask `WorkflowStudio(app)`, WSGI/ASGI middleware "
                "or the Django app) and check --app-url.")
CALLBACK_ACTION = "Route queue callbacks to worker and run validation again."


@dataclasses.dataclass(frozen=True)
class Check:
    check: str
    status: str
    detail: str
    action: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class OwnershipReport:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def status(self) -> str:
        return FAIL if self.failed else PASS

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.to_json() for c in self.checks]}


def _error_row(name: str, exc: ComputeClientError) -> Check:
    if isinstance(exc, ConnectionComputeClientError):
        return Check(name, FAIL, f"worker down: {exc.message}", WORKER_DOWN_ACTION)
    return Check(name, FAIL, str(exc), exc.action)


def _worker_checks(remote: ComputeClient) -> list[Check]:
    checks: list[Check] = []
    try:
        health = remote.health() or {}
    except ComputeClientError as exc:
        skipped = "skipped: the worker is not healthy"
        return [_error_row("worker reachable", exc),
                *(Check(n, SKIP, skipped) for n in ("api key valid", "api key scopes",
                                                    "active deployment"))]
    checks.append(Check("worker reachable", PASS,
                        f"{remote.base_url} status {health.get('status')}, version "
                        f"{health.get('version')}, database {health.get('database')}"))

    try:
        key = remote.request("GET", "/v1/keys/self") or {}
    except NotFoundComputeClientError:
        key = None  # a worker without /v1/keys/self: validity shows in the next check
        checks.append(Check("api key valid", SKIP, "worker has no GET /v1/keys/self "
                                                   "(upgrade it to check the key)"))
        checks.append(Check("api key scopes", SKIP, "worker has no GET /v1/keys/self"))
    except ComputeClientError as exc:
        checks.append(_error_row("api key valid", exc))
        checks.append(Check("api key scopes", SKIP, "skipped: the key is not valid"))
        checks.append(Check("active deployment", SKIP, "skipped: the key is not valid"))
        return checks
    if key is not None:
        checks.append(Check("api key valid", PASS,
                            f"key {key.get('name')!r} (prefix {key.get('prefix')})"))
        checks.append(_scope_check(list(key.get("scopes") or [])))
    checks.append(_deployment_check(remote, health))
    return checks


def _scope_check(scopes: list[str]) -> Check:
    shown = " ".join(scopes) or "none"
    if Scope.ADMIN.value in scopes:
        return Check("api key scopes", PASS, f"{shown} (admin implies every scope)")
    missing = [s for s in APP_SCOPES if s not in scopes]
    if missing:
        return Check("api key scopes", FAIL,
                     f"has {shown}; lacks {', '.join(missing)} (an app needs "
                     f"{' and '.join(APP_SCOPES)})", runbook_action("missing_scope"))
    return Check("api key scopes", PASS, shown)


def _deployment_check(remote: ComputeClient, health: dict[str, Any]) -> Check:
    name = "active deployment"
    try:
        active = remote.get_active_deployment()
    except MissingScopeComputeClientError:
        # An app key rarely has deploy:read; the public health route names the pointer too.
        summary = health.get("activeDeployment")
        if summary:
            return Check(name, PASS, f"{summary['id']} version {summary['version']} "
                                     "(from /v1/health; key lacks deploy:read)")
        return Check(name, FAIL, "no active deployment (from /v1/health)",
                     runbook_action("no_active_deployment"))
    except ComputeClientError as exc:
        return _error_row(name, exc)
    workflows = ", ".join(active.get("workflows") or []) or "-"
    return Check(name, PASS, f"{active['id']} version {active['version']} "
                             f"(workflows: {workflows})")


def fetch_app_diagnostics(app_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET the app's diagnostics JSON; raises ``ValueError`` with a one-line reason."""
    url = app_url.rstrip("/") + DIAGNOSTICS_PATH
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ValueError(f"cannot reach the app at {url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise ValueError(f"{url} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "targetWorld" not in body:
        raise ValueError(f"{url} did not return Workflow Studio diagnostics JSON")
    return body


def _app_checks(app_url: str | None, timeout: float) -> list[Check]:
    if not app_url:
        return [Check("app diagnostics", SKIP, "no --app-url given",
                      "Pass --app-url to check the app's routing too.")]
    try:
        app = fetch_app_diagnostics(app_url, timeout)
    except ValueError as exc:
        return [Check("app diagnostics", FAIL, str(exc), MOUNT_ACTION)]
    checks = [Check("app diagnostics", PASS,
                    f"{app_url.rstrip('/')}{DIAGNOSTICS_PATH} (package "
                    f"{app.get('packageVersion')})")]
    target = app.get("targetWorld")
    if target == REMOTE_WORLD:
        checks.append(Check("app target world", PASS, f"WORKFLOW_TARGET_WORLD={target}"))
    else:
        checks.append(Check("app target world", FAIL,
                            f"WORKFLOW_TARGET_WORLD is {target!r}: runs start in the app, "
                            "not on the worker", f"Set WORKFLOW_TARGET_WORLD={REMOTE_WORLD} "
                                                 "on the app and restart it."))
    checks.append(Check("app worker url", PASS, "WORKFLOW_COMPUTE_BASE_URL is set")
                  if app.get("workerUrlConfigured") else
                  Check("app worker url", FAIL, "WORKFLOW_COMPUTE_BASE_URL is not set on the app",
                        "Set WORKFLOW_COMPUTE_BASE_URL on the app to the worker's URL."))
    checks.append(Check("app api key", PASS, "WORKFLOW_COMPUTE_API_KEY is set")
                  if app.get("apiKeyPresent") else
                  Check("app api key", FAIL, "WORKFLOW_COMPUTE_API_KEY is not set on the app",
                        "Set WORKFLOW_COMPUTE_API_KEY on the app to a key with "
                        f"{' and '.join(APP_SCOPES)}."))
    hits = int(app.get("unexpectedLocalCallbacks") or 0)
    if hits:
        last = app.get("lastUnexpectedLocalCallbackAt")
        checks.append(Check("app local callbacks", FAIL,
                            f"{hits} unexpected local callback hit(s)"
                            + (f", last at {last}" if last else "")
                            + ": queue callback traffic reaches app-host routes",
                            CALLBACK_ACTION))
    else:
        checks.append(Check("app local callbacks", PASS, "no unexpected local callback hits"))
    return checks


def validate_ownership(url: str, api_key: str, app_url: str | None = None, *,
                       timeout: float = 10.0) -> OwnershipReport:
    """Run every check once (no retries, so the answer is quick and honest)."""
    remote = ComputeClient(url, api_key, timeout=timeout, retry=NO_RETRY)
    try:
        checks = _worker_checks(remote) + _app_checks(app_url, timeout)
    finally:
        remote.session.close()
    return OwnershipReport(tuple(checks))

"""Writes the audit row for each state-changing request and each auth failure, and
registers the retention pass that deletes old rows.

The row is written by the ``after_request`` hook, in its own statement, unless the route
already wrote it inside its own transaction with ``deferred`` (the trigger does: one
commit instead of two on the hottest route, and the row can never exist without the run or
the run without the row). Either way each request gets exactly one row, except:

- a 401 (a missing, unknown or revoked key; a webhook or hook URL with a bad signature) is
  counted in one row per (credential, client address, minute) with a ``count``
  (``storage.audit.record_aggregated``), so a flood of bad credentials cannot grow the
  table; such a row names no key, correlation id or run id (it stands for many requests);
- a request the failed-authentication throttle refused (429 before any key lookup) writes
  nothing at all.

Facts and claims: a caller's ``x-workflow-correlation-id`` and ``x-workflow-run-id`` are
recorded as the row's correlation id and run id only when a valid API key sent them.
Without one (webhooks, hook URLs) they are kept under ``metadata.unverified``; the row's
correlation id is then the one the worker made (``-`` when the caller sent one) and its run
id only one a route found in the database. Hook tokens in paths are redacted
(``redaction``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage import Connection, DatabaseUnavailable, retention
from workflow_studio.storage import audit as audit_repo
from workflow_studio.worker.context import EXTENSION, WorkerState, conn, runtime
from workflow_studio.worker.redaction import redact
from workflow_studio.worker.security import WINDOW_MS, client_address

log = logging.getLogger("workflow_studio.audit")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _request_fields(status: int) -> dict[str, Any]:
    return {"method": request.method,
            "route": request.url_rule.rule if request.url_rule else redact(request.path),
            "path": redact(request.path), "status": status}


def deferred(status: int, auth_failure: bool = False) -> Callable[[Any, str | None], None]:
    """This request's audit row as ``write(c, run_id)``: the request's fields are read now,
    so ``write`` can run later inside the caller's transaction, even on another thread
    (``group_commit``). Call ``committed()`` once that transaction has committed; until
    then the hook still writes a row (e.g. for the error response of a rolled-back
    trigger). ``run_id``: the run the route found or made (a fact)."""
    key_id = g.get("key_id")
    verified = key_id is not None  # a valid key vouches for what its caller sends
    supplied = g.get("correlation_supplied", False)
    correlation = g.get("correlation_id", "-") if verified or not supplied else "-"
    claimed_run = g.get("claimed_run_id")
    unverified: dict[str, str] = {}
    if not verified:
        if supplied:
            unverified["correlation_id"] = g.get("correlation_id", "-")
        if claimed_run:
            unverified["run_id"] = claimed_run
    fields = {"key_id": key_id, "correlation_id": correlation, **_request_fields(status)}

    def write(c: Any, run_id: str | None) -> None:
        if run_id is None and verified:
            run_id = claimed_run
        metadata: dict[str, Any] = {"correlation_id": correlation}
        if run_id:
            metadata["run_id"] = run_id
        if auth_failure:
            metadata["auth_failure"] = True
        if unverified:
            metadata["unverified"] = unverified
        audit_repo.record(c, created_at=now_ms(), run_id=run_id, metadata=metadata, **fields)
    return write


def committed() -> None:
    """The row written through ``deferred`` is durable: the after_request hook must skip."""
    g.audited = True


def _record_failed_credential(status: int) -> None:
    """Count this 401 in its client's row for the current minute."""
    now = runtime().clock.now_ms()
    window = now - now % WINDOW_MS
    credential = "api_key" if g.get("auth_failed", False) else "signature"
    client = client_address()
    audit_repo.record_aggregated(
        conn(), aggregate_key=f"auth:{credential}:{client}:{window}", at=now,
        metadata={"auth_failure": True, "credential": credential, "client": client,
                  "window_start": window},
        **_request_fields(status))


def _purge(c: Connection, now: int, days: int) -> None:
    done = retention.run_pass(c, now, days)
    if done and any(done.values()):
        log.info("retention: deleted %s", ", ".join(f"{n} from {t}" for t, n in done.items()))


def init_app(app: Flask) -> None:
    worker: WorkerState = app.extensions[EXTENSION]
    days = worker.settings.retention_audit_days
    worker.runtime.add_purge(lambda c, now: _purge(c, now, days))

    @app.after_request
    def _audit(response: Response) -> Response:
        if g.get("audited", False) or g.get("auth_throttled", False):
            return response
        try:
            if response.status_code == 401:
                _record_failed_credential(response.status_code)
                return response
            auth_failure = response.status_code == 403 and g.get("auth_failed", False)
            if request.method not in STATE_CHANGING and not auth_failure:
                return response
            if request.url_rule is None and not auth_failure:
                return response  # nothing was routed, nothing changed
            deferred(response.status_code, auth_failure)(conn(), g.get("run_id"))
        except DatabaseUnavailable as exc:
            log.error("audit entry not written: %s", exc)
        return response

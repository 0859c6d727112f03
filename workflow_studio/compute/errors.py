"""Error codes of the protocol, each bound to its HTTP status, with the runbook's action.

Two enums, one per kind of error, so a code cannot be used where it does not belong:

- ``ErrorCode``: what the worker (or the app-side callback routes) answers in the JSON error
  envelope. Each member is declared with its HTTP status, here and nowhere else
  (``ErrorCode.NO_ACTIVE_DEPLOYMENT.status == 409``); ``worker.errors.ApiError`` and the
  client look the status up instead of choosing one.
- ``RunErrorCode``: what the engine records in a failed run's ``error["code"]``. These are
  never an HTTP answer, so they carry no status; a failed run is read with 200 from
  ``GET /v1/runs/:id``. A name may be both (``unknown_workflow`` is a 400 when ``POST /v1/runs``
  names a workflow the deployment lacks, and a run failure when the pinned deployment lost it):
  both members have the same string value and compare equal.

The codes and actions are part of the public contract (the operator runbook quotes them), so
the CLI and the client print the same words the worker documents.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Self


class ErrorCode(StrEnum):
    """A code of the JSON error envelope; ``status`` is the one HTTP status it answers with."""

    status: int

    def __new__(cls, value: str, status: int) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    INVALID_REQUEST = "invalid_request", 400
    INVALID_JSON = "invalid_json", 400
    INVALID_MANIFEST = "invalid_manifest", 400
    INVALID_ARTIFACT = "invalid_artifact", 400
    INVALID_DEPLOYMENT_ID = "invalid_deployment_id", 400
    ACTIVATION_FAILED = "activation_failed", 400
    UNKNOWN_WORKFLOW = "unknown_workflow", 400
    INVALID_RUN_ID = "invalid_run_id", 400
    INVALID_SCHEDULE = "invalid_schedule", 400
    UNAUTHORIZED = "unauthorized", 401
    INVALID_SIGNATURE = "invalid_signature", 401
    MISSING_SCOPE = "missing_scope", 403
    HTTPS_REQUIRED = "https_required", 403
    NOT_FOUND = "not_found", 404
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    CONFLICT = "conflict", 409
    NO_ACTIVE_DEPLOYMENT = "no_active_deployment", 409
    IDEMPOTENCY_REQUIRED = "idempotency_required", 409
    IDEMPOTENCY_CONFLICT = "idempotency_conflict", 409
    RUN_TERMINAL = "run_terminal", 409
    SECRET_IN_USE = "secret_in_use", 409
    # Answered by the app-side routes (workflow_studio.integrations), not by the worker.
    UNEXPECTED_LOCAL_CALLBACK = "unexpected_local_callback", 409
    PAYLOAD_TOO_LARGE = "payload_too_large", 413
    URI_TOO_LONG = "uri_too_long", 414
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415
    TOO_EARLY = "too_early", 425
    RATE_LIMITED = "rate_limited", 429
    HEADERS_TOO_LARGE = "headers_too_large", 431
    INTERNAL_ERROR = "internal_error", 500
    WEBHOOK_HANDLER_FAILED = "webhook_handler_failed", 500
    NOT_IMPLEMENTED = "not_implemented", 501
    DATABASE_UNAVAILABLE = "database_unavailable", 503
    DATABASE_BUSY = "database_busy", 503


class RunErrorCode(StrEnum):
    """A code the engine records in a failed run's error; never an HTTP answer (no status)."""

    CRASH_LOOP = "crash_loop"                          # claimed too often without finishing
    DEPLOYMENT_UNAVAILABLE = "deployment_unavailable"  # the pinned deployment cannot load
    UNKNOWN_WORKFLOW = "unknown_workflow"              # the pinned deployment lacks it
    NONDETERMINISTIC_REPLAY = "nondeterministic_replay"  # replay diverged from the log
    STEP_FAILED = "step_failed"                        # a step failed fatally or ran out of tries
    WORKFLOW_ERROR = "workflow_error"                  # the workflow function itself raised
    INVALID_OUTPUT = "invalid_output"                  # the return value cannot be stored


# The code that answers a bare HTTP status, when nothing more specific is known: routing
# errors, werkzeug's own exceptions (malformed forms, oversized bodies, ...) and what
# gunicorn refuses before the app (worker.gunicorn_worker: long request lines, headers).
_GENERIC_CODES = (
    ErrorCode.INVALID_REQUEST,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED,
    ErrorCode.CONFLICT,
    ErrorCode.PAYLOAD_TOO_LARGE,
    ErrorCode.URI_TOO_LONG,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.HEADERS_TOO_LARGE,
    ErrorCode.INTERNAL_ERROR,
    ErrorCode.NOT_IMPLEMENTED,
)
GENERIC_CODE_BY_STATUS: MappingProxyType[int, ErrorCode] = MappingProxyType(
    {code.status: code for code in _GENERIC_CODES})


def code_for_status(status: int) -> ErrorCode:
    """The envelope code for a bare HTTP ``status``: its generic code, else ``invalid_request``
    for a client error and ``internal_error`` for anything else. Answer with the returned
    code's own ``status`` (an unusual 4xx becomes a 400), so no code has two statuses."""
    code = GENERIC_CODE_BY_STATUS.get(status)
    if code is not None:
        return code
    return ErrorCode.INVALID_REQUEST if status < 500 else ErrorCode.INTERNAL_ERROR


_ARTIFACT_ACTION = "Rebuild and redeploy so manifest file metadata matches the uploaded tarball."
_DEPLOYMENT_ID_ACTION = (
    "Read /v1/deployments/active or GET /v1/deployments/:id and retry with a valid ID.")

_RUNBOOK: MappingProxyType[str, str] = MappingProxyType({
    ErrorCode.UNAUTHORIZED: (
        "Verify the bearer key and compare it with the worker's seeded keys."),
    ErrorCode.MISSING_SCOPE: "Grant the missing scope or use an admin key.",
    ErrorCode.NO_ACTIVE_DEPLOYMENT: (
        "Activate a deployment with `workflow-studio rollback --deployment-id <id>` "
        "or POST /v1/deployments/:id/activate."
    ),
    ErrorCode.IDEMPOTENCY_REQUIRED: "Retry POST /v1/runs with a stable idempotency key.",
    ErrorCode.IDEMPOTENCY_CONFLICT: "Reuse the original payload or send a new idempotency key.",
    ErrorCode.RATE_LIMITED: (
        "Retry after the limit window or provision a separate operator key."),
    ErrorCode.INVALID_MANIFEST: _ARTIFACT_ACTION,
    ErrorCode.INVALID_ARTIFACT: _ARTIFACT_ACTION,
    ErrorCode.NOT_FOUND: _DEPLOYMENT_ID_ACTION,
    ErrorCode.INVALID_DEPLOYMENT_ID: _DEPLOYMENT_ID_ACTION,
    ErrorCode.HTTPS_REQUIRED: (
        "Use HTTPS in production or disable the requirement only in trusted local development."
    ),
    ErrorCode.DATABASE_UNAVAILABLE: "Check that the worker's database is reachable, then retry.",
    ErrorCode.DATABASE_BUSY: (
        "Retry after Retry-After (the write that waited was not made). If it lasts, the "
        "worker log names the process holding the lock and what it was doing; a stuck worker "
        "process is replaced within worker.stuck_timeout. Run CPU-heavy steps with "
        "isolation=\"process\"."),
    ErrorCode.ACTIVATION_FAILED: (
        "Fix the import error shown, rebuild and deploy again; if it names missing secrets, "
        "set each with `workflow-studio secrets set NAME` and activate again."),
    ErrorCode.SECRET_IN_USE: (
        "The active deployment declares this secret: activate one that does not first, or "
        "delete it anyway with `workflow-studio secrets delete NAME --force` (its steps then "
        "fail when they read it)."),
    ErrorCode.PAYLOAD_TOO_LARGE: (
        "Send less: the message names the limit and the setting that raises it."),
    RunErrorCode.NONDETERMINISTIC_REPLAY: (
        "Workflow code changed under a running run; keep old runs on their deployment "
        "(runs are pinned) and make workflow code depend only on step results."
    ),
    ErrorCode.RUN_TERMINAL: "The run already finished; start a new run instead.",
    ErrorCode.INVALID_SCHEDULE: (
        "Fix the field named in the message (`workflow-studio schedules preview` shows the "
        "fire times of a valid spec)."),
    # Also RunErrorCode.UNKNOWN_WORKFLOW: the same string, so the same key.
    ErrorCode.UNKNOWN_WORKFLOW: "Check the workflow name against GET /v1/deployments/active.",
    ErrorCode.INVALID_SIGNATURE: (
        "Check that the provider's signing secret matches worker.webhooks and that the "
        "delivery is fresh (timestamps older than 5 minutes are refused)."
    ),
})


def runbook_action(code: str) -> str | None:
    """The operator runbook's action for ``code``, or None when it has none."""
    return _RUNBOOK.get(code)

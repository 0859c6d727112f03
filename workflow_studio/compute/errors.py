"""Error codes of the worker's JSON envelope, with the runbook's action for each.

The codes and actions are part of the public contract (the operator runbook quotes them), so
the CLI and the client print the same words the worker documents.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    MISSING_SCOPE = "missing_scope"
    RATE_LIMITED = "rate_limited"
    HTTPS_REQUIRED = "https_required"
    INVALID_REQUEST = "invalid_request"
    INVALID_JSON = "invalid_json"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    CONFLICT = "conflict"
    INTERNAL_ERROR = "internal_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    NO_ACTIVE_DEPLOYMENT = "no_active_deployment"
    IDEMPOTENCY_REQUIRED = "idempotency_required"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_MANIFEST = "invalid_manifest"
    INVALID_ARTIFACT = "invalid_artifact"
    INVALID_DEPLOYMENT_ID = "invalid_deployment_id"
    ACTIVATION_FAILED = "activation_failed"
    UNKNOWN_WORKFLOW = "unknown_workflow"
    NONDETERMINISTIC_REPLAY = "nondeterministic_replay"
    INVALID_RUN_ID = "invalid_run_id"
    RUN_TERMINAL = "run_terminal"
    INVALID_SIGNATURE = "invalid_signature"
    WEBHOOK_HANDLER_FAILED = "webhook_handler_failed"
    TOO_EARLY = "too_early"


_RUNBOOK: dict[str, str] = {
    "unauthorized": "Verify the bearer key and compare it with the worker's seeded keys.",
    "missing_scope": "Grant the missing scope or use an admin key.",
    "no_active_deployment": (
        "Activate a deployment with `workflow-studio rollback --deployment-id <id>` "
        "or POST /v1/deployments/:id/activate."
    ),
    "idempotency_required": "Retry POST /v1/runs with a stable idempotency key.",
    "idempotency_conflict": "Reuse the original payload or send a new idempotency key.",
    "rate_limited": "Retry after the limit window or provision a separate operator key.",
    "invalid_manifest": (
        "Rebuild and redeploy so manifest file metadata matches the uploaded tarball."
    ),
    "invalid_artifact": (
        "Rebuild and redeploy so manifest file metadata matches the uploaded tarball."
    ),
    "not_found": (
        "Read /v1/deployments/active or GET /v1/deployments/:id and retry with a valid ID."
    ),
    "invalid_deployment_id": (
        "Read /v1/deployments/active or GET /v1/deployments/:id and retry with a valid ID."
    ),
    "https_required": (
        "Use HTTPS in production or disable the requirement only in trusted local development."
    ),
    "database_unavailable": "Check that the worker's database is reachable, then retry.",
    "activation_failed": "Fix the import error shown, rebuild and deploy again.",
    "nondeterministic_replay": (
        "Workflow code changed under a running run; keep old runs on their deployment "
        "(runs are pinned) and make workflow code depend only on step results."
    ),
    "run_terminal": "The run already finished; start a new run instead.",
    "unknown_workflow": "Check the workflow name against GET /v1/deployments/active.",
    "invalid_signature": (
        "Check that the provider's signing secret matches worker.webhooks and that the "
        "delivery is fresh (timestamps older than 5 minutes are refused)."
    ),
}


def runbook_action(code: str) -> str | None:
    """The operator runbook's action for ``code``, or None when it has none."""
    return _RUNBOOK.get(code)

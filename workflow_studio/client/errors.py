"""Client errors built from the worker's error envelope: one class per runbook code."""

from __future__ import annotations

from typing import Any

from workflow_studio.compute.errors import runbook_action


class ComputeClientError(Exception):
    """Any failed call; carries the envelope's code, the HTTP status and the correlation id."""

    def __init__(self, message: str, *, code: str = "client_error", status: int | None = None,
                 correlation_id: str | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status
        self.correlation_id = correlation_id
        self.body = body or {}

    @property
    def action(self) -> str | None:
        """The operator runbook's action for this error's code."""
        return runbook_action(self.code)

    def __str__(self) -> str:
        status = f"{self.status} " if self.status else ""
        return f"{status}{self.code}: {self.message}"


class ConnectionComputeClientError(ComputeClientError):
    """The worker could not be reached (refused, DNS, timeout)."""


class UnauthorizedComputeClientError(ComputeClientError): ...
class MissingScopeComputeClientError(ComputeClientError): ...
class RateLimitedComputeClientError(ComputeClientError):
    @property
    def retry_after(self) -> float | None:
        value = self.body.get("retryAfter")
        return float(value) if value is not None else None
class HttpsRequiredComputeClientError(ComputeClientError): ...
class IdempotencyComputeClientError(ComputeClientError): ...
class NoActiveDeploymentComputeClientError(ComputeClientError): ...
class NotFoundComputeClientError(ComputeClientError): ...
class InvalidRequestComputeClientError(ComputeClientError): ...
class InvalidManifestComputeClientError(InvalidRequestComputeClientError): ...
class ConflictComputeClientError(ComputeClientError): ...
class ServerComputeClientError(ComputeClientError): ...
class InvalidSignatureComputeClientError(ComputeClientError): ...
class TooEarlyComputeClientError(ComputeClientError):
    """425 from the world proxy: a step started before its retry time."""

    @property
    def retry_after(self) -> float | None:
        value = self.body.get("retryAfter")
        return float(value) if value is not None else None


_BY_CODE: dict[str, type[ComputeClientError]] = {
    "unauthorized": UnauthorizedComputeClientError,
    "missing_scope": MissingScopeComputeClientError,
    "rate_limited": RateLimitedComputeClientError,
    "https_required": HttpsRequiredComputeClientError,
    "idempotency_required": IdempotencyComputeClientError,
    "idempotency_conflict": IdempotencyComputeClientError,
    "no_active_deployment": NoActiveDeploymentComputeClientError,
    "not_found": NotFoundComputeClientError,
    "invalid_deployment_id": InvalidRequestComputeClientError,
    "invalid_manifest": InvalidManifestComputeClientError,
    "invalid_artifact": InvalidManifestComputeClientError,
    "invalid_request": InvalidRequestComputeClientError,
    "invalid_json": InvalidRequestComputeClientError,
    "invalid_run_id": InvalidRequestComputeClientError,
    "unknown_workflow": InvalidRequestComputeClientError,
    "invalid_signature": InvalidSignatureComputeClientError,
    "too_early": TooEarlyComputeClientError,
    "conflict": ConflictComputeClientError,
    "run_terminal": ConflictComputeClientError,
}


def error_from_response(status: int, body: Any, correlation_id: str | None) -> ComputeClientError:
    """The most specific error class for an HTTP error response."""
    if not isinstance(body, dict) or "code" not in body:
        body = {"code": "server_error" if status >= 500 else "http_error",
                "message": f"HTTP {status} without an error envelope"}
    code = str(body.get("code"))
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerComputeClientError if status >= 500 else (
            ConflictComputeClientError if status == 409 else ComputeClientError)
    return cls(str(body.get("message", "")), code=code, status=status,
               correlation_id=correlation_id, body=body)

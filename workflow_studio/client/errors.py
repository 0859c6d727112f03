"""Client errors built from the worker's error envelope: one class per runbook code."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from workflow_studio.compute.errors import ErrorCode, runbook_action


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


# The class for each worker code; codes not listed fall back by status (see below).
_BY_CODE: MappingProxyType[str, type[ComputeClientError]] = MappingProxyType({
    ErrorCode.UNAUTHORIZED: UnauthorizedComputeClientError,
    ErrorCode.MISSING_SCOPE: MissingScopeComputeClientError,
    ErrorCode.RATE_LIMITED: RateLimitedComputeClientError,
    ErrorCode.HTTPS_REQUIRED: HttpsRequiredComputeClientError,
    ErrorCode.IDEMPOTENCY_REQUIRED: IdempotencyComputeClientError,
    ErrorCode.IDEMPOTENCY_CONFLICT: IdempotencyComputeClientError,
    ErrorCode.NO_ACTIVE_DEPLOYMENT: NoActiveDeploymentComputeClientError,
    ErrorCode.NOT_FOUND: NotFoundComputeClientError,
    ErrorCode.INVALID_DEPLOYMENT_ID: InvalidRequestComputeClientError,
    ErrorCode.INVALID_MANIFEST: InvalidManifestComputeClientError,
    ErrorCode.INVALID_ARTIFACT: InvalidManifestComputeClientError,
    ErrorCode.INVALID_REQUEST: InvalidRequestComputeClientError,
    ErrorCode.INVALID_JSON: InvalidRequestComputeClientError,
    ErrorCode.INVALID_RUN_ID: InvalidRequestComputeClientError,
    ErrorCode.UNKNOWN_WORKFLOW: InvalidRequestComputeClientError,
    ErrorCode.INVALID_SIGNATURE: InvalidSignatureComputeClientError,
    ErrorCode.TOO_EARLY: TooEarlyComputeClientError,
    ErrorCode.CONFLICT: ConflictComputeClientError,
    ErrorCode.RUN_TERMINAL: ConflictComputeClientError,
})


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

"""``ComputeClient``: the worker's REST API over a pooled ``requests.Session``."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from workflow_studio.client.errors import (
    ComputeClientError,
    ConnectionComputeClientError,
    error_from_response,
)

CORRELATION_HEADER = "x-workflow-correlation-id"


class ComputeClient:
    """One method per route; every failure raises a ``ComputeClientError`` subclass."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        if not base_url:
            raise ComputeClientError("no worker URL given (set WORKFLOW_COMPUTE_BASE_URL)",
                                     code="invalid_configuration")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = session or requests.Session()

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None, **kwargs: Any) -> Any:
        """Send one request; return the decoded JSON body (None when empty)."""
        sent = {CORRELATION_HEADER: str(uuid.uuid4())}
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        sent.update(headers or {})
        try:
            response = self.session.request(method, self.base_url + path, json=json,
                                            params=params, headers=sent,
                                            timeout=timeout or self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ConnectionComputeClientError(
                f"cannot reach the worker at {self.base_url}: {type(exc).__name__}",
                code="connection_error", correlation_id=sent[CORRELATION_HEADER]) from exc
        correlation_id = response.headers.get(CORRELATION_HEADER, sent[CORRELATION_HEADER])
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise error_from_response(response.status_code, body, correlation_id)
        return body

    # Control plane -------------------------------------------------------------------
    def health(self) -> Any:
        return self.request("GET", "/v1/health")

    def create_key(self, name: str, scopes: list[str],
                   rate_limit_per_minute: int | None = None) -> Any:
        return self.request("POST", "/v1/keys", json={
            "name": name, "scopes": scopes, "rateLimitPerMinute": rate_limit_per_minute})

    def list_keys(self) -> Any:
        return self.request("GET", "/v1/keys")

    def revoke_key(self, key_id: str) -> Any:
        return self.request("DELETE", f"/v1/keys/{key_id}")

    def list_audit(self, correlation_id: str | None = None, cursor: str | None = None,
                   limit: int = 100) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if correlation_id:
            params["correlation_id"] = correlation_id
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/v1/audit", params=params)

"""``ComputeClient``: the worker's REST API over a pooled ``requests.Session``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias, cast
from urllib.parse import quote

import requests

from workflow_studio.client.errors import (
    ComputeClientError,
    ConnectionComputeClientError,
    error_from_response,
)
from workflow_studio.client.retry import NO_RETRY, RetryPolicy
from workflow_studio.client.upload import MultipartUpload

CORRELATION_HEADER = "x-workflow-correlation-id"

JSONObject: TypeAlias = dict[str, Any]
"""A decoded JSON object, as every route below answers (runs, pages, deployments, ...)."""


def _seg(value: str) -> str:
    """One path segment, quoted: an id or stream name can never change the route."""
    return quote(str(value), safe="")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ComputeClient:
    """One method per route; every failure raises a ``ComputeClientError`` subclass."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 session: requests.Session | None = None,
                 retry: RetryPolicy | None = None) -> None:
        if not base_url:
            raise ComputeClientError("no worker URL given (set WORKFLOW_COMPUTE_BASE_URL)",
                                     code="invalid_configuration")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = session or requests.Session()
        self.retry = retry or RetryPolicy()

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None, retry: RetryPolicy | None = None,
                **kwargs: Any) -> Any:
        """Send one request, retrying where safe; return the decoded JSON body or None.

        Streamed bodies (``data=``/``files=``) are sent once unless ``retry`` says otherwise,
        since a half-read stream cannot be replayed.
        """
        sent = {CORRELATION_HEADER: str(uuid.uuid4())}
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        sent.update(headers or {})
        if retry is None:
            retry = NO_RETRY if ("data" in kwargs or "files" in kwargs) else self.retry
        has_key = any(k.lower() == "idempotency-key" for k in sent)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(method, self.base_url + path, json=json,
                                                params=params, headers=sent,
                                                timeout=timeout or self.timeout, **kwargs)
            except requests.RequestException as exc:
                connect_failed = isinstance(exc, requests.ConnectionError) and not isinstance(
                    exc, requests.ReadTimeout)
                if attempt < retry.attempts and retry.may_retry(
                        method, has_key, connect_failed=connect_failed):
                    time.sleep(retry.delay(attempt))
                    continue
                raise ConnectionComputeClientError(
                    f"cannot reach the worker at {self.base_url}: {type(exc).__name__}",
                    code="connection_error", correlation_id=sent[CORRELATION_HEADER]) from exc
            correlation_id = response.headers.get(CORRELATION_HEADER, sent[CORRELATION_HEADER])
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            if response.status_code < 400:
                return body
            error = error_from_response(response.status_code, body, correlation_id)
            if attempt < retry.attempts and retry.may_retry(method, has_key,
                                                            status=response.status_code):
                time.sleep(retry.delay(attempt, _retry_after(response)))
                continue
            raise error

    def _object(self, method: str, path: str, **kwargs: Any) -> JSONObject:
        """``request`` for a route whose answer is a JSON object (typing only)."""
        return cast(JSONObject, self.request(method, path, **kwargs))

    # Control plane -------------------------------------------------------------------
    def health(self) -> JSONObject:
        return self._object("GET", "/v1/health")

    def create_key(self, name: str, scopes: list[str],
                   rate_limit_per_minute: int | None = None) -> JSONObject:
        return self._object("POST", "/v1/keys", json={
            "name": name, "scopes": scopes, "rateLimitPerMinute": rate_limit_per_minute})

    def list_keys(self) -> JSONObject:
        return self._object("GET", "/v1/keys")

    def revoke_key(self, key_id: str) -> JSONObject:
        return self._object("DELETE", f"/v1/keys/{_seg(key_id)}")

    def list_audit(self, correlation_id: str | None = None, cursor: str | None = None,
                   limit: int = 100) -> JSONObject:
        params: dict[str, Any] = {"limit": limit}
        if correlation_id:
            params["correlation_id"] = correlation_id
        if cursor:
            params["cursor"] = cursor
        return self._object("GET", "/v1/audit", params=params)

    # Deployments ---------------------------------------------------------------------
    def create_deployment(self, manifest: bytes | str | Path, artifact: bytes | str | Path, *,
                          concurrency: int | None = None, step_timeout: float | None = None,
                          default_retries: int | None = None,
                          progress: Callable[[int, int], None] | None = None,
                          timeout: float | None = None) -> JSONObject:
        """Upload an artifact and its manifest (paths or bytes); returns the deployment.

        The body is streamed with a known length; ``progress(sent, total)`` is called as it
        goes (for a progress bar). Uploads are not retried: the worker would record twice.
        """
        fields = {"concurrency": concurrency, "stepTimeout": step_timeout,
                  "defaultRetries": default_retries}
        upload = MultipartUpload(progress=progress)
        for name, value in fields.items():
            if value is not None:
                upload.add_field(name, str(value))
        upload.add_file("manifest", "manifest.json", "application/json", manifest)
        upload.add_file("artifact", "artifact.tar.gz", "application/gzip", artifact)
        with upload:
            return self._object("POST", "/v1/deployments", data=upload,
                                headers={"Content-Type": upload.content_type,
                                         "Content-Length": str(len(upload))},
                                timeout=timeout or max(self.timeout, 300.0))

    def activate_deployment(self, deployment_id: str, timeout: float | None = None) -> JSONObject:
        # Activation imports the artifact on the worker (up to its activation_timeout).
        return self._object("POST", f"/v1/deployments/{_seg(deployment_id)}/activate",
                            timeout=timeout or max(self.timeout, 120.0))

    def get_deployment(self, deployment_id: str) -> JSONObject:
        return self._object("GET", f"/v1/deployments/{_seg(deployment_id)}")

    def get_active_deployment(self) -> JSONObject:
        return self._object("GET", "/v1/deployments/active")

    def list_deployments(self, cursor: str | None = None, limit: int = 100) -> JSONObject:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self._object("GET", "/v1/deployments", params=params)

    # Runs ------------------------------------------------------------------------------
    def trigger_run(self, workflow_name: str, args: list[Any] | tuple[Any, ...] = (),
                    kwargs: dict[str, Any] | None = None, *, deployment_id: str | None = None,
                    idempotency_key: str | None = None) -> JSONObject:
        """``POST /v1/runs``; args/kwargs may hold datetimes, bytes, ... (tagged JSON).
        Without ``idempotency_key`` a fresh one is sent (safe to retry with the same)."""
        from workflow_studio.compute import payloads
        body: dict[str, Any] = {"workflowName": workflow_name,
                                "args": payloads.to_jsonable(list(args), "args"),
                                "kwargs": payloads.to_jsonable(dict(kwargs or {}), "kwargs")}
        if deployment_id:
            body["deploymentId"] = deployment_id
        key = idempotency_key or str(uuid.uuid4())
        return self._object("POST", "/v1/runs", json=body, headers={"Idempotency-Key": key})

    def get_run(self, run_id: str, wait: float | None = None) -> JSONObject:
        params = {"wait": wait} if wait else None
        return self._object("GET", f"/v1/runs/{_seg(run_id)}", params=params,
                            timeout=max(self.timeout, (wait or 0) + 10))

    def list_runs(self, *, status: str | None = None, workflow: str | None = None,
                  trigger_type: str | None = None, created_from: str | None = None,
                  created_to: str | None = None, cursor: str | None = None,
                  limit: int = 100) -> JSONObject:
        params = {k: v for k, v in {"status": status, "workflow": workflow,
                                    "triggerType": trigger_type, "createdFrom": created_from,
                                    "createdTo": created_to, "cursor": cursor,
                                    "limit": limit}.items() if v is not None}
        return self._object("GET", "/v1/runs", params=params)

    def run_events(self, run_id: str, cursor: int = 0, limit: int = 1000) -> JSONObject:
        return self._object("GET", f"/v1/runs/{_seg(run_id)}/events",
                            params={"cursor": cursor, "limit": limit})

    def run_steps(self, run_id: str) -> JSONObject:
        return self._object("GET", f"/v1/runs/{_seg(run_id)}/steps")

    def run_stream(self, run_id: str, name: str = "default", cursor: int = 0) -> JSONObject:
        return self._object("GET", f"/v1/runs/{_seg(run_id)}/streams/{_seg(name)}",
                            params={"cursor": cursor})

    def cancel_run(self, run_id: str) -> JSONObject:
        return self._object("POST", f"/v1/runs/{_seg(run_id)}/cancel")

    def resume_hook(self, token: str, payload: Any = None) -> JSONObject:
        from workflow_studio.compute import payloads
        return self._object("POST", "/v1/runs/resume", json={
            "token": token, "payload": payloads.to_jsonable(payload, "payload")})

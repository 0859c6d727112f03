"""Inbound webhooks: provider deliveries and ``create_webhook()`` hook URLs. Both are public
(no bearer key): the provider's signature, or the worker's signature on the hook token, is
the credential.

``POST /v1/webhooks/<provider>`` verifies the raw body with the provider's scheme and the
secret from ``worker.webhooks``, records the delivery id (a replay answers
``{"duplicate": true}``), then calls ``on_webhook(provider, event)`` in the same transaction.
``POST /v1/hooks/<signed token>`` resumes the hook with the body (JSON, else text).

Neither reads a body before checking what it can without it: the provider is configured
and its signature headers are present and fresh, or the hook token's signature holds. The
body is then read up to ``worker.limits.max_webhook_bytes`` (``limits``: a larger
Content-Length is refused unread, a chunked body is cut off at the cap).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Blueprint, Flask, current_app, g, request

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.config.settings import ConfigError, resolve_callable
from workflow_studio.engine import service
from workflow_studio.storage import webhooks as webhooks_repo
from workflow_studio.storage.world import WorldConflict
from workflow_studio.worker.context import conn, runtime, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import parsed_json
from workflow_studio.worker.limits import body_limit, read_body
from workflow_studio.worker.security import public
from workflow_studio.worker.webhooks.dispatch import WebhookEvent
from workflow_studio.worker.webhooks.signatures import VERIFIERS, SignatureError, check_headers
from workflow_studio.worker.webhooks.tokens import (
    EXTENSION,
    InvalidToken,
    ServerSecret,
    hook_url,
    server_secret,
)

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("workflow_studio.webhooks")
_HANDLER = "workflow_studio.on_webhook"


def init_app(app: Flask) -> None:
    """Give the app its server secret and let ``create_webhook()`` build signed URLs."""
    worker = app.extensions["workflow_studio"]
    settings = worker.settings
    secret = ServerSecret(settings.secret_key, worker.db)
    app.extensions[EXTENSION] = secret
    # Load (or create) it with the first connection; no error text the API shows holds it.
    worker.db.on_ready(lambda conn: worker.runtime.redactor.add(secret.load(conn)))
    base = settings.public_base_url or f"http://127.0.0.1:{settings.port}"
    worker.runtime.hook_url = lambda token: hook_url(base, secret.sign_hook_token(token))


def _raw_body() -> bytes:
    """The body, read through the route's cap (413 ``payload_too_large`` past it)."""
    return read_body()


def _handler() -> Any:
    """The ``on_webhook`` callable: given directly, else found in the active deployment's
    code, else imported from the worker's own environment.

    Looking in the deployment first means handlers ship with the workflows they start, and a
    new deployment brings its new handler with it; the worker's environment is the fallback
    for handlers installed beside the worker (e.g. a package in its virtualenv).
    """
    target = state().on_webhook
    if target is None or callable(target):
        return target
    from_deployment = _deployment_handler(str(target))
    if from_deployment is not None:
        return from_deployment
    if _HANDLER not in current_app.extensions:
        try:
            current_app.extensions[_HANDLER] = resolve_callable(target)
        except ConfigError as exc:
            log.error("%s", exc)
            raise ApiError(ErrorCode.WEBHOOK_HANDLER_FAILED,
                           "The worker's on_webhook handler cannot be imported; see the "
                           "worker log.") from None
    return current_app.extensions[_HANDLER]


def _deployment_handler(target: str) -> Any:
    """``module:attr`` looked up among the active deployment's loaded modules, or None."""
    from workflow_studio.storage import deployments as deployments_repo
    from workflow_studio.worker.deployments.loader import DeploymentLoadError

    active = deployments_repo.active_id(conn())
    if active is None:
        return None
    module_name, _, attr = target.partition(":")
    if not attr:
        module_name, _, attr = target.rpartition(".")
    try:
        loaded = state().loader.load(active)
    except DeploymentLoadError as exc:
        log.error("on_webhook: active deployment %s cannot be loaded: %s", active, exc)
        return None
    module = loaded.modules.get(module_name)
    return getattr(module, attr, None) if module is not None else None


# Schemes whose signature covers neither the delivery id nor a timestamp: a captured
# delivery re-sent with a fresh id header would verify again, so the signed body counts too.
_UNSIGNED_ID_PROVIDERS = frozenset({"github", "hmac"})


def _first_delivery(c: Any, provider: str, delivery_id: str, body: bytes) -> bool:
    first = webhooks_repo.record_delivery(c, provider, delivery_id)
    if provider in _UNSIGNED_ID_PROVIDERS:
        body_key = "sha256:" + hashlib.sha256(body).hexdigest()
        first = webhooks_repo.record_delivery(c, provider, body_key) and first
    return first


@bp.post("/v1/webhooks/<provider>")
@public
@body_limit("max_webhook_bytes")
def receive(provider: str) -> Any:
    secret = state().settings.webhooks.get(provider, {}).get("secret")
    verifier = VERIFIERS.get(provider)
    if verifier is None or not secret:
        raise ApiError(ErrorCode.NOT_FOUND,
                       f"No webhook provider {provider!r} is configured on this worker.")
    try:
        check_headers(provider, request.headers)  # before a byte of the body is read
        body = _raw_body()
        delivery_id = verifier(secret, body, request.headers)
    except SignatureError as exc:
        raise ApiError(ErrorCode.INVALID_SIGNATURE,
                       f"The {provider} signature is not valid: {exc}.") from None
    handler = _handler()
    c = conn()
    event = WebhookEvent(c, provider, delivery_id, body, request.headers,
                         state().settings.max_payload_bytes)
    result: Any = None
    with c.transaction():
        if not _first_delivery(c, provider, delivery_id, body):
            return {"received": True, "duplicate": True, "deliveryId": delivery_id}
        if handler is not None:
            try:
                result = handler(provider, event)
            except ApiError:
                raise
            except Exception:
                log.exception("on_webhook failed for %s delivery %s", provider, delivery_id)
                raise ApiError(ErrorCode.WEBHOOK_HANDLER_FAILED,
                               "The on_webhook handler raised; nothing was recorded, so the "
                               "provider's retry will be handled.") from None
    if event.started or event.resumed:
        g.run_id = (event.started or event.resumed)[0]
        runtime().wake(len(event.started) + len(event.resumed))
    body_out: dict[str, Any] = {"received": True, "duplicate": False,
                                "deliveryId": delivery_id, "handled": handler is not None,
                                "runs": event.started, "resumed": event.resumed}
    if isinstance(result, (dict, list, str, int, float, bool)):
        body_out["result"] = result
    return body_out


@bp.post("/v1/hooks/<signed>")
@public
@body_limit("max_webhook_bytes")
def resume_webhook(signed: str) -> Any:
    try:
        token = server_secret().unsign_hook_token(signed)
    except InvalidToken as exc:
        raise ApiError(ErrorCode.INVALID_SIGNATURE, f"{exc}.") from None
    body = _raw_body()
    payload: Any = None
    if body:
        payload = parsed_json() if request.is_json else None
        if payload is None:
            payload = body.decode("utf-8", errors="replace")
    try:
        hook = service.resume_hook(conn(), token, payload, state().settings.max_payload_bytes)
    except payloads.PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The body as a hook payload: {exc}"
                       ) from None
    except payloads.PayloadError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"The body as a hook payload: {exc}"
                       ) from None
    except service.HookNotFound:
        raise ApiError(ErrorCode.NOT_FOUND,
                       "This webhook is no longer waiting (its run finished).") from None
    except WorldConflict:
        raise ApiError(ErrorCode.CONFLICT,
                       "This webhook already received its payload.") from None
    g.run_id = hook["run_id"]
    runtime().wake()
    return {"runId": hook["run_id"], "hookId": hook["id"], "status": "resumed"}, 202

"""Authentication, scopes, HTTPS policy and rate limiting, as ``before_request`` hooks.

Every route is protected by default: a view without a declaration needs ``admin``. Views opt
out with ``@public``, accept any valid key with ``@authenticated``, or name their scope with
``@requires(scope)``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.scopes import Scope, has_scope
from workflow_studio.storage import keys as keys_repo
from workflow_studio.storage import ratelimit as ratelimit_repo
from workflow_studio.worker.context import conn, state
from workflow_studio.worker.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])
TOUCH_INTERVAL_MS = 60_000


def public(view: F) -> F:
    """Mark a view as needing no API key."""
    view.public = True  # type: ignore[attr-defined]
    return view


def authenticated(view: F) -> F:
    """Mark a view as needing a valid API key but no particular scope."""
    view.required_scope = None  # type: ignore[attr-defined]
    return view


def plain_http_ok(view: F) -> F:
    """Exempt a view from the HTTPS policy (health probes of load balancers speak HTTP)."""
    view.plain_http_ok = True  # type: ignore[attr-defined]
    return view


def requires(scope: Scope | str) -> Callable[[F], F]:
    """Declare the scope a view needs."""
    value = scope.value if isinstance(scope, Scope) else scope

    def mark(view: F) -> F:
        view.required_scope = value  # type: ignore[attr-defined]
        return view
    return mark


def _view() -> Any:
    if request.url_rule is None or request.endpoint is None:
        return None  # routing failed: let the 404/405 handler answer
    return current_app.view_functions.get(request.endpoint)


def _client_and_proto() -> tuple[str, str]:
    """The real client address and scheme, trusting forwarded headers only from proxies."""
    peer = request.remote_addr or ""
    proto = request.scheme
    networks = state().trusted_proxies
    if networks and _in(peer, networks):
        forwarded_proto = request.headers.get("X-Forwarded-Proto", "")
        if forwarded_proto:
            proto = forwarded_proto.split(",")[0].strip().lower()
        forwarded_for = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        # Walk from the nearest hop outwards; the first untrusted address is the client.
        for hop in reversed(hops):
            peer = hop
            if not _in(hop, networks):
                break
    return peer, proto


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _check_https() -> None:
    if not state().settings.require_https:
        return
    client, proto = _client_and_proto()
    if proto != "https" and not _is_loopback(client):
        raise ApiError(ErrorCode.HTTPS_REQUIRED,
                       "This worker accepts only HTTPS requests from non-local clients.")


def _authenticate(view: Any) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    g.auth_failed = True
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.UNAUTHORIZED,
                       "Missing API key: send Authorization: Bearer <key>.",
                       {"WWW-Authenticate": 'Bearer realm="workflow-studio"'})
    key = keys_repo.authenticate(conn(), token.strip())
    if key is None:
        challenge = 'Bearer realm="workflow-studio", error="invalid_token"'
        raise ApiError(ErrorCode.UNAUTHORIZED, "Invalid or revoked API key.",
                       {"WWW-Authenticate": challenge})
    g.key = key
    g.key_id = key["id"]
    scopes = frozenset(key["scopes"].split())
    g.scopes = scopes
    needed = getattr(view, "required_scope", Scope.ADMIN.value)
    if needed is not None and not has_scope(scopes, needed):
        raise ApiError(ErrorCode.MISSING_SCOPE,
                       f"This API key lacks the scope {needed!r}.", scope=needed)
    g.auth_failed = False
    now = int(time.time() * 1000)
    if key["last_used_at"] is None or now - key["last_used_at"] > TOUCH_INTERVAL_MS:
        keys_repo.touch(conn(), key["id"], now)


def _rate_limit() -> None:
    key = g.key
    limit = key["rate_limit_per_minute"]
    if limit is None:
        limit = state().settings.rate_limit_per_minute
    if not limit:
        return
    now = time.time()
    window = int(now // 60) * 60
    used = ratelimit_repo.hit(conn(), key["id"], window * 1000)
    reset = max(1, math.ceil(window + 60 - now))
    g.rate_limit_headers = {
        "RateLimit-Policy": f'"per-key";q={limit};w=60',
        "RateLimit": f'"per-key";r={max(0, limit - used)};t={reset}',
    }
    if used > limit:
        raise ApiError(ErrorCode.RATE_LIMITED,
                       f"Rate limit of {limit} requests per minute exceeded for this key.",
                       {"Retry-After": str(reset), **g.rate_limit_headers},
                       retryAfter=reset)


def init_app(app: Flask) -> None:
    @app.before_request
    def _guard() -> None:
        view = _view()
        if not getattr(view, "plain_http_ok", False):
            _check_https()
        if view is None or getattr(view, "public", False):
            return
        _authenticate(view)
        _rate_limit()

    @app.after_request
    def _limit_headers(response: Response) -> Response:
        for name, value in g.get("rate_limit_headers", {}).items():
            response.headers.setdefault(name, value)
        return response

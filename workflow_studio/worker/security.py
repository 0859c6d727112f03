"""Authentication, scopes, HTTPS policy and rate limiting, as ``before_request`` hooks.

Every route is protected by default: a view without a declaration needs ``admin``. Views opt
out with ``@public``, accept any valid key with ``@authenticated``, or name their scope with
``@requires(scope)``.

Order, for a protected view: the failed-authentication throttle, the key, the key's rate
limit, then its scope, so an under-scoped key's ``missing_scope`` answers count against its
rate limit like any other request.

Throttle: a missing, unknown or revoked key (401) counts one failure for the client's
address (an IPv6 client's /64) and one for the presented key's first 8 characters, in
one-minute windows in the database (``storage.ratelimit``), so every process and node
shares them. Once either bucket has ``worker.security.auth_failures_per_minute`` failures,
requests from that address, or with a key of that prefix, get 429 ``rate_limited`` until the
window ends, whatever key they send: a right key then fares no better than a wrong one, so
guessing gains nothing, and a refused request writes nothing. The address is the
peer, or the forwarded client when the peer is a trusted proxy (``client_address``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import math
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.scopes import Scope, has_scope
from workflow_studio.storage import keys as keys_repo
from workflow_studio.storage import ratelimit as ratelimit_repo
from workflow_studio.worker.context import conn, runtime, state
from workflow_studio.worker.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])
TOUCH_INTERVAL_MS = 60_000
WINDOW_MS = 60_000
KEY_PREFIX_CHARS = 8


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


def client_address() -> str:
    """This request's client: the peer, or the forwarded client when the peer is a
    trusted proxy. An IPv6 client is its /64 (one site's addresses), an IPv4-mapped
    address its IPv4 form."""
    if "client_address" not in g:
        address = _client_and_proto()[0]
        if ":" not in address and address.count(".") == 3 and address.replace(
                ".", "").isdigit():  # dotted IPv4, the common case: no parse needed
            g.client_address = address
            return address
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            g.client_address = address[:64] or "-"
        else:
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            if mapped is not None:
                g.client_address = str(mapped)
            elif ip.version == 6:
                g.client_address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
            else:
                g.client_address = str(ip)
    client: str = g.client_address
    return client


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


@dataclasses.dataclass(frozen=True)
class _Throttle:
    """This request's failed-authentication buckets and window."""

    limit: int
    buckets: tuple[str, ...]
    window_start: int
    reset: int  # seconds until the window ends

    def headers(self, remaining: int) -> dict[str, str]:
        return {"RateLimit-Policy": f'"auth-failures";q={self.limit};w=60',
                "RateLimit": f'"auth-failures";r={max(0, remaining)};t={self.reset}'}

    def refuse(self) -> ApiError:
        """The 429 of a throttled client (marked so the audit writes no row for it)."""
        g.auth_throttled = True
        return ApiError(ErrorCode.RATE_LIMITED,
                        "Too many failed authentications from this address or with this "
                        f"key; retry in {self.reset} s.",
                        {"Retry-After": str(self.reset), **self.headers(0)},
                        retryAfter=self.reset)


def _throttle(token: str) -> _Throttle | None:
    limit = state().settings.auth_failures_per_minute
    if not limit:
        return None
    now = runtime().clock.now_ms()
    window = now - now % WINDOW_MS
    buckets = [f"addr:{client_address()}"]
    if token:
        prefix = token[:KEY_PREFIX_CHARS].encode("utf-8", "surrogatepass")
        # A hash: the table holds no piece of anything that may be a secret.
        buckets.append("key:" + hashlib.sha256(prefix).hexdigest()[:16])
    reset = max(1, math.ceil((window + WINDOW_MS - now) / 1000))
    return _Throttle(limit, tuple(buckets), window, reset)


def _failed(throttle: _Throttle | None, message: str, challenge: str) -> ApiError:
    """Count a failed authentication; the 401 to answer, or the 429 if this failure went
    past the limit (several processes may have let requests through at once)."""
    if throttle is not None:
        used = ratelimit_repo.count_auth_failure(conn(), throttle.buckets,
                                                 throttle.window_start)
        if used > throttle.limit:
            return throttle.refuse()
        g.rate_limit_headers = throttle.headers(throttle.limit - used)
    return ApiError(ErrorCode.UNAUTHORIZED, message, {"WWW-Authenticate": challenge})


def _authenticate() -> Any:
    """The request's live key, or raise: 429 for a throttled client, else 401 for a
    missing, unknown or revoked key.

    A throttled client gets 429 whatever key it sends, right or wrong, so guessing gains
    nothing. For a right key the throttle's count comes with the key's row (one statement:
    the hot path pays no extra round trip); any other request reads it apart."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    g.auth_failed = True
    throttle = _throttle(token)
    key = keys_repo.authenticate(
        conn(), token, (throttle.buckets, throttle.window_start) if throttle else None
    ) if token else None
    if throttle is not None:
        used = key["auth_failures"] if key is not None else ratelimit_repo.auth_failures(
            conn(), throttle.buckets, throttle.window_start)
        if used >= throttle.limit:
            raise throttle.refuse()
    if not token:
        raise _failed(throttle, "Missing API key: send Authorization: Bearer <key>.",
                      'Bearer realm="workflow-studio"')
    if key is None:
        raise _failed(throttle, "Invalid or revoked API key.",
                      'Bearer realm="workflow-studio", error="invalid_token"')
    g.key = key
    g.key_id = key["id"]
    g.scopes = frozenset(key["scopes"].split())
    return key


def _check_scope(view: Any, key: Any) -> None:
    needed = getattr(view, "required_scope", Scope.ADMIN.value)
    if needed is not None and not has_scope(g.scopes, needed):
        raise ApiError(ErrorCode.MISSING_SCOPE,
                       f"This API key lacks the scope {needed!r}.", scope=needed)
    g.auth_failed = False
    now = runtime().clock.now_ms()
    if key["last_used_at"] is None or now - key["last_used_at"] > TOUCH_INTERVAL_MS:
        keys_repo.touch(conn(), key["id"], now)


def _rate_limit(key: Any) -> None:
    limit = key["rate_limit_per_minute"]
    if limit is None:
        limit = state().settings.rate_limit_per_minute
    if not limit:
        return
    now = runtime().clock.now_ms() / 1000
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
        key = _authenticate()
        _rate_limit(key)  # before the scope: a missing_scope answer counts too
        _check_scope(view, key)

    @app.after_request
    def _limit_headers(response: Response) -> Response:
        for name, value in g.get("rate_limit_headers", {}).items():
            response.headers.setdefault(name, value)
        return response

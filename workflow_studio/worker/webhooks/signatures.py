"""Provider signature schemes, verified over the raw body in constant time.

Each verifier returns the delivery id used for de-duplication, or raises
``SignatureError`` with a reason safe to show the sender. Timestamps are checked against a
tolerance so a captured delivery cannot be replayed later. ``check_headers`` is what can be
refused before the body is read (a missing signature header, a stale timestamp), so an
unsigned delivery costs the worker its headers, not its body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

STRIPE_TOLERANCE = 300
STANDARD_TOLERANCE = 300


class SignatureError(Exception):
    """The delivery is not authentic (or too old); answered with 401 invalid_signature."""


def _hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def verify_github(secret: str, body: bytes, headers: Mapping[str, str],
                  now: float | None = None) -> str:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``."""
    given = _header(headers, "X-Hub-Signature-256")
    expected = "sha256=" + _hmac_hex(secret.encode(), body)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise SignatureError("signature does not match")
    return headers.get("X-GitHub-Delivery") or hashlib.sha256(body).hexdigest()


def verify_stripe(secret: str, body: bytes, headers: Mapping[str, str],
                  now: float | None = None) -> str:
    """``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`` (300 s)."""
    parts: dict[str, list[str]] = {}
    for item in _header(headers, "Stripe-Signature").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("Stripe-Signature has no timestamp") from None
    signatures = parts.get("v1", [])
    if not signatures:
        raise SignatureError("Stripe-Signature has no v1 signature")
    expected = _hmac_hex(secret.encode(), f"{timestamp}.".encode() + body)
    if not any(hmac.compare_digest(s.encode(), expected.encode()) for s in signatures):
        raise SignatureError("signature does not match")
    if abs((time.time() if now is None else now) - timestamp) > STRIPE_TOLERANCE:
        raise SignatureError("timestamp outside the tolerance")
    try:
        event_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        event_id = None
    return str(event_id) if event_id else hashlib.sha256(body).hexdigest()


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def verify_standard(secret: str, body: bytes, headers: Mapping[str, str],
                    now: float | None = None) -> str:
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``
    (space-separated ``v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``), ±5 minutes."""
    message_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(
        hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()).decode()
    candidates = [s.partition(",") for s in _header(headers, "webhook-signature").split()]
    if not any(version == "v1" and hmac.compare_digest(sig.encode(), expected.encode())
               for version, _, sig in candidates):
        raise SignatureError("signature does not match")
    if abs((time.time() if now is None else now) - timestamp) > STANDARD_TOLERANCE:
        raise SignatureError("timestamp outside the tolerance")
    return message_id


def verify_hmac(secret: str, body: bytes, headers: Mapping[str, str],
                now: float | None = None) -> str:
    """Generic: ``X-Signature: [sha256=]<hex HMAC-SHA256(secret, body)>``; the delivery id
    comes from ``X-Delivery-Id`` or, failing that, the body's digest."""
    given = _header(headers, "X-Signature").strip().removeprefix("sha256=")
    expected = _hmac_hex(secret.encode(), body)
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise SignatureError("signature does not match")
    return headers.get("X-Delivery-Id") or hashlib.sha256(body).hexdigest()


_REQUIRED_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "github": ("X-Hub-Signature-256",),
    "stripe": ("Stripe-Signature",),
    "standard": ("webhook-id", "webhook-timestamp", "webhook-signature"),
    "hmac": ("X-Signature",),
})


def _fresh(raw: str, tolerance: int, now: float | None, header: str) -> None:
    try:
        timestamp = int(raw)
    except ValueError:
        raise SignatureError(f"{header} has no integer timestamp") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")


def check_headers(provider: str, headers: Mapping[str, str], now: float | None = None) -> None:
    """Refuse, from its headers alone, a delivery ``provider``'s verifier would refuse
    anyway: a signature header missing, or a signed timestamp outside the tolerance."""
    for name in _REQUIRED_HEADERS.get(provider, ()):
        _header(headers, name)
    if provider == "standard":
        _fresh(headers["webhook-timestamp"], STANDARD_TOLERANCE, now, "webhook-timestamp")
    elif provider == "stripe":
        items = (item.strip().partition("=") for item in headers["Stripe-Signature"].split(","))
        stamp = next((value for key, _, value in items if key == "t"), "")
        _fresh(stamp, STRIPE_TOLERANCE, now, "Stripe-Signature")


Verifier = Callable[..., str]
VERIFIERS: Mapping[str, Verifier] = MappingProxyType({
    "github": verify_github,
    "stripe": verify_stripe,
    "standard": verify_standard,
    "hmac": verify_hmac,
})

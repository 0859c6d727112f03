"""Sign deliveries the way each provider documents it (the test side of the verifiers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

SECRETS = {
    "github": "gh-secret-It's a Secret to Everybody",
    "stripe": "whsec_stripe_test_secret",
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "hmac": "generic-hmac-secret",
}


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(provider: str, body: bytes, delivery_id: str, *, secret: str | None = None,
         at: float | None = None) -> dict[str, str]:
    """Headers for ``body`` as ``provider`` sends them (``at`` is the signing time)."""
    secret = secret or SECRETS[provider]
    ts = int(time.time() if at is None else at)
    if provider == "github":
        return {"X-Hub-Signature-256": "sha256=" + _hex(secret, body),
                "X-GitHub-Delivery": delivery_id, "X-GitHub-Event": "push"}
    if provider == "stripe":
        return {"Stripe-Signature": f"t={ts},v1={_hex(secret, f'{ts}.'.encode() + body)}"}
    if provider == "standard":
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{delivery_id}.{ts}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {"webhook-id": delivery_id, "webhook-timestamp": str(ts),
                "webhook-signature": f"v1,{signature}"}
    return {"X-Signature": "sha256=" + _hex(secret, body), "X-Delivery-Id": delivery_id}

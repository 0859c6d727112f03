"""Signature schemes checked against the providers' published examples and their failures."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from workflow_studio.worker.webhooks.signatures import (
    SignatureError,
    verify_github,
    verify_hmac,
    verify_standard,
    verify_stripe,
)


def test_github_documented_example():
    # GitHub's "Validating webhook deliveries" example values.
    headers = {"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c"
                                      "22c46f4379c8b043e17", "X-GitHub-Delivery": "d-1"}
    assert verify_github("It's a Secret to Everybody", b"Hello, World!", headers) == "d-1"
    with pytest.raises(SignatureError, match="does not match"):
        verify_github("It's a Secret to Everybody", b"Hello, World?", headers)
    with pytest.raises(SignatureError, match="missing X-Hub-Signature-256"):
        verify_github("s", b"x", {})


def test_standard_webhooks_spec_example():
    # The example in the Standard Webhooks specification.
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    body = b'{"test": 2432232314}'
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert verify_standard(secret, body, headers, now=1614265330) == \
        "msg_p5jXN8AQM9LWM0D4loKWxJek"
    rotated = {**headers, "webhook-signature": "v1,bogus " + headers["webhook-signature"]}
    assert verify_standard(secret, body, rotated, now=1614265330)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_standard(secret, body, headers, now=1614265330 + 301)
    with pytest.raises(SignatureError, match="does not match"):
        verify_standard(secret, body + b" ", headers, now=1614265330)


def stripe_header(secret: str, body: bytes, timestamp: int) -> str:
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                         hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature},v0=ignored"


def test_stripe_scheme_tolerance_and_event_id():
    secret, body, ts = "whsec_test_secret", b'{"id": "evt_123", "type": "x"}', 1_700_000_000
    headers = {"Stripe-Signature": stripe_header(secret, body, ts)}
    assert verify_stripe(secret, body, headers, now=ts + 299) == "evt_123"
    with pytest.raises(SignatureError, match="tolerance"):
        verify_stripe(secret, body, headers, now=ts + 301)
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe("whsec_other", body, headers, now=ts)
    with pytest.raises(SignatureError, match="no timestamp"):
        verify_stripe(secret, body, {"Stripe-Signature": "v1=abc"}, now=ts)


def test_generic_hmac():
    body = b"payload"
    digest = hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert verify_hmac("k" * 16, body, {"X-Signature": f"sha256={digest}",
                                        "X-Delivery-Id": "7"}) == "7"
    assert verify_hmac("k" * 16, body, {"X-Signature": digest.upper()})
    with pytest.raises(SignatureError):
        verify_hmac("k" * 16, b"other", {"X-Signature": digest})

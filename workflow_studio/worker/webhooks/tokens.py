"""The worker's server secret and what is derived from it: signed webhook tokens (the
public URL of a ``create_webhook()`` hook) and per-run encryption keys.

The secret is ``worker.secret_key`` (``WORKFLOW_SECRET_KEY``) when configured, else one the
worker generates on first use and keeps in the database, so every process and node signs
and derives alike. Nothing derived from it reveals it: tokens are HMAC-signed with a
purpose-specific salt (itsdangerous), run keys come out of HKDF-SHA256 with the run id as
``info``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from workflow_studio.storage import webhooks as webhooks_repo

HOOK_SALT = "workflow-studio/webhook-hook/v1"
RUN_KEY_INFO = b"workflow-studio/run-encryption-key/v1:"
EXTENSION = "workflow_studio.secrets"


class InvalidToken(Exception):
    """A webhook token that was not signed by this worker (or was tampered with)."""


def hkdf_sha256(key: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """RFC 5869 HKDF (extract, then expand) with SHA-256."""
    prk = hmac.new(salt or bytes(32), key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


class ServerSecret:
    """The worker's secret, loaded lazily (configured, or generated in the database)."""

    def __init__(self, configured: str | None, db: Any) -> None:
        self._value = configured
        self._db = db
        self._lock = threading.Lock()

    def load(self, conn: Any | None = None) -> str:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = webhooks_repo.server_secret(conn or self._db.connection())
        return self._value

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.load(), salt=HOOK_SALT)

    def sign_hook_token(self, token: str) -> str:
        return str(self._serializer().dumps(token))

    def unsign_hook_token(self, signed: str) -> str:
        try:
            token = self._serializer().loads(signed)
        except BadSignature:
            raise InvalidToken("the webhook token's signature does not match") from None
        if not isinstance(token, str):
            raise InvalidToken("the webhook token holds no hook token")
        return token

    def run_key(self, run_id: str) -> str:
        """The run's 256-bit key, base64url: the same for a run on every node, distinct per
        run, and useless for deriving the secret or another run's key."""
        key = hkdf_sha256(self.load().encode(), RUN_KEY_INFO + run_id.encode())
        return base64.urlsafe_b64encode(key).decode().rstrip("=")


def hook_url(base_url: str, signed: str) -> str:
    return f"{base_url.rstrip('/')}/v1/hooks/{signed}"


def server_secret() -> ServerSecret:
    """The app's server secret (``init_app`` of the webhooks routes installs it)."""
    secret: ServerSecret = current_app.extensions[EXTENSION]
    return secret

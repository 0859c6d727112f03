"""Named secrets: operator-managed values that deployed steps read with ``ws.secret(name)``.

Values are sealed before they reach a statement and opened only for a step that reads them;
the database holds ciphertext, never a value (so neither does a backup, a dump or the WAL).
``SecretBox`` seals with AES-256-GCM under a key derived (HKDF-SHA256, its own ``info``) from
the worker secret (``worker.secret_key``, else the one the worker generated in the database),
with the secret's name as associated data, so a ciphertext copied onto another name does not
open. ``key_id`` (a fingerprint of the derived key, not the key) is stored with each value:
a value sealed under another worker secret is reported as such (``SecretSealedElsewhere``)
rather than as a corrupt row.

What a repository function returns never holds a value either: rows carry the name, the
version and who set it when (``list_secrets``/``get``); only ``read`` opens one.

Deleting (``delete``) and activating (``storage.deployments.activate``) take the same
``deployments`` lock, so "the active deployment declares X" cannot change between the check
and the write on any node.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workflow_studio.compute.clock import now_ms
from workflow_studio.storage import webhooks as webhooks_repo
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.deployments import active_secret_names

KEY_INFO = b"workflow-studio/named-secrets/v1"
_AAD = b"workflow-studio/named-secret:"
NONCE_BYTES = 12
MAX_VALUE_CHARS = 32 * 1024  # a PEM key or a service account's JSON fits many times
_META = ("name, version, key_id, created_at, created_by_key_id, updated_at,"
         " updated_by_key_id")


class SecretSealedElsewhere(Exception):
    """The stored value was sealed under another worker secret (it was changed), or its
    bytes were altered: it cannot be opened; set the secret again."""


class SecretInUse(Exception):
    """The active deployment declares the secret; deleting it needs ``force``."""

    def __init__(self, name: str, deployment_id: str, version: int) -> None:
        super().__init__(f"secret {name!r} is declared by the active deployment "
                         f"{deployment_id} (version {version})")
        self.name, self.deployment_id, self.version = name, deployment_id, version


class SecretBox:
    """Seals and opens values with the key derived from ``master`` (the worker secret)."""

    def __init__(self, master: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=KEY_INFO).derive(master.encode())
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:16]

    def seal(self, name: str, value: str) -> tuple[bytes, bytes]:
        """(nonce, ciphertext) of ``value`` for the secret ``name``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, value.encode("utf-8"), _AAD + name.encode())

    def open(self, name: str, nonce: bytes, ciphertext: bytes, key_id: str) -> str:
        if not hmac.compare_digest(key_id, self.key_id):
            raise SecretSealedElsewhere(
                f"secret {name!r} was set under another worker secret (WORKFLOW_SECRET_KEY "
                f"changed since); set it again with `workflow-studio secrets set {name}`")
        try:
            return self._aead.decrypt(nonce, ciphertext, _AAD + name.encode()).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise SecretSealedElsewhere(
                f"secret {name!r} does not decrypt (its stored bytes were altered); set it "
                f"again with `workflow-studio secrets set {name}`") from None


def box_for(conn: Connection, configured: str | None) -> SecretBox:
    """The box of this worker: ``configured`` (``worker.secret_key``), else the generated
    server secret every process and node shares through the database."""
    return SecretBox(configured or webhooks_repo.server_secret(conn))


def put(conn: Connection, box: SecretBox, name: str, value: str,
        key_id: str | None) -> tuple[Row, bool]:
    """Create or replace ``name``; returns (its metadata row, whether it was created).
    Replacing bumps ``version``; a step that starts after the commit reads the new value."""
    nonce, ciphertext = box.seal(name, value)
    at = now_ms()
    with conn.transaction():
        conn.lock("secrets")
        existing = conn.query_one("SELECT version FROM secrets WHERE name = ?", (name,))
        if existing is None:
            conn.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, key_id, version, created_at,"
                " created_by_key_id, updated_at, updated_by_key_id)"
                " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (name, nonce, ciphertext, box.key_id, at, key_id, at, key_id))
        else:
            conn.execute(
                "UPDATE secrets SET nonce = ?, ciphertext = ?, key_id = ?, version = ?,"
                " updated_at = ?, updated_by_key_id = ? WHERE name = ?",
                (nonce, ciphertext, box.key_id, int(existing["version"]) + 1, at, key_id,
                 name))
        row = get(conn, name)
    assert row is not None
    return row, existing is None


def get(conn: Connection, name: str) -> Row | None:
    """The metadata of ``name`` (never its value), or None."""
    return conn.query_one(f"SELECT {_META} FROM secrets WHERE name = ?", (name,))


def list_secrets(conn: Connection) -> list[Row]:
    """Every secret's metadata, by name."""
    return conn.query(f"SELECT {_META} FROM secrets ORDER BY name")


def read(conn: Connection, box: SecretBox, name: str) -> str | None:
    """The current value of ``name``, or None when it is not set."""
    row = conn.query_one("SELECT nonce, ciphertext, key_id FROM secrets WHERE name = ?",
                         (name,))
    if row is None:
        return None
    return box.open(name, bytes(row["nonce"]), bytes(row["ciphertext"]), str(row["key_id"]))


def missing(conn: Connection, names: list[str] | tuple[str, ...]) -> list[str]:
    """The names among ``names`` that are not set, sorted."""
    if not names:
        return []
    marks = ", ".join("?" for _ in names)
    present = {r["name"] for r in conn.query(
        f"SELECT name FROM secrets WHERE name IN ({marks})", tuple(names))}
    return sorted(set(names) - present)


def delete(conn: Connection, name: str, *, force: bool = False) -> Row | None:
    """Delete ``name``; returns its metadata, None when there was none. Raises
    ``SecretInUse`` when the active deployment declares it, unless ``force``."""
    with conn.transaction():
        conn.lock("deployments")  # what activation holds while it checks the secrets
        row = get(conn, name)
        if row is None:
            return None
        if not force:
            active = active_secret_names(conn)
            if active is not None and name in active[2]:
                raise SecretInUse(name, active[0], active[1])
        conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
    return row

"""This process's access to the named secrets (``storage.secrets``): one ``SecretStore`` per
app, shared by the routes that manage secrets and by the steps that read them.

A step's ``ws.secret(name)`` reads the row when it is called, on the step's own thread
connection, so a value set or rotated on any process or node is what the next read returns
(no cache to expire). Every value read is taught to the app's ``Redactor``: a step error that
quotes it reaches the API and the logs as ``[redacted]``.
"""

from __future__ import annotations

import threading

from workflow_studio.config.environment import Redactor
from workflow_studio.storage import Connection, Database
from workflow_studio.storage import secrets as repo


class SecretStore:
    """Seal, open and read named secrets with this worker's key (derived lazily: the
    generated worker secret lives in the database)."""

    def __init__(self, db: Database, configured: str | None, redactor: Redactor) -> None:
        self.db = db
        self._configured = configured
        self._redactor = redactor
        self._box: repo.SecretBox | None = None
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def box(self, conn: Connection | None = None) -> repo.SecretBox:
        if self._box is None:
            with self._lock:
                if self._box is None:
                    self._box = repo.box_for(conn or self.db.connection(), self._configured)
        return self._box

    def read(self, name: str) -> str | None:
        """The current value of ``name`` (None when unset); for ``ws.secret``."""
        conn = self.db.connection()
        value = repo.read(conn, self.box(conn), name)
        if value is not None and value not in self._known:
            with self._lock:
                self._known.add(value)
            self._redactor.add(value)
        return value

"""The database handle: one interface, one thin SQL dialect per engine.

Repositories write portable SQL with ``?`` placeholders and get rows as dicts; a dialect
(``sqlite.py``, ``postgres.py``) owns connecting, transactions and placeholder style.
Connections are opened lazily, per thread and per process, so nothing opened before gunicorn
forks is ever used after it; a broken PostgreSQL connection is replaced on next use.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workflow_studio.storage import migrations
from workflow_studio.storage.base import (
    Connection,
    DatabaseUnavailable,
    IntegrityError,
    Row,
)
from workflow_studio.storage.sqlite import SqliteConnection

RECONNECT_PAUSE = 0.5  # seconds without connection attempts after one failed

__all__ = ["Connection", "Database", "DatabaseUnavailable", "IntegrityError", "Row",
           "SqliteConnection", "open_database"]


class Database:
    """A process's handle on one database; hands each thread its own connection."""

    instances: weakref.WeakSet[Database] = weakref.WeakSet()

    def __init__(self, target: str, *, dialect: str = "sqlite",
                 schema: str = "workflow_studio", migrate: bool = True) -> None:
        self.target, self.dialect, self.schema = target, dialect, schema
        self.migrate = migrate  # False: the schema is known to be current (skip the check)
        self._local = threading.local()
        self._ready_lock = threading.Lock()
        self._ready_pid: int | None = None
        self._on_ready: list[Callable[[Any], None]] = []
        self._opened: list[tuple[int, Any]] = []  # (pid, connection), for close()
        self._opened_lock = threading.Lock()
        self._retry_at = 0.0  # PostgreSQL: no connection attempt before this (monotonic)
        self._last_error = ""
        Database.instances.add(self)

    def on_ready(self, callback: Callable[[Any], None]) -> None:
        """Run ``callback(connection)`` once per process, after migrations (e.g. seed keys)."""
        self._on_ready.append(callback)

    def _open(self) -> Any:
        if self.dialect == "postgres":
            return self._open_postgres()
        try:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create {self.target}: {exc.strerror}") from exc
        return SqliteConnection(self.target)

    def _open_postgres(self) -> Any:
        """Connect, or fail fast for ``RECONNECT_PAUSE`` s after a failed attempt.

        While the server is down every request and loop would otherwise open a connection
        attempt; a stream of them keeps a shutting-down server busy (it must fork a child to
        refuse each one, and a fast shutdown waits for those children), so a restart under
        load never completes. Failing fast answers 503 at once instead.
        """
        from workflow_studio.storage.postgres import PostgresConnection

        if time.monotonic() < self._retry_at:
            raise DatabaseUnavailable(self._last_error)
        try:
            return PostgresConnection(self.target, self.schema)
        except DatabaseUnavailable as exc:
            self._retry_at, self._last_error = time.monotonic() + RECONNECT_PAUSE, str(exc)
            raise

    def connection(self) -> Any:
        """This thread's connection, opened (and the schema migrated) on first use."""
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid or getattr(conn, "broken", False):
            stale = conn if conn is not None and self._local.pid == pid else None
            conn = self._open()
            self._local.conn, self._local.pid = conn, pid
            with self._opened_lock:
                self._opened = [(p, c) for p, c in self._opened if c is not stale]
                self._opened.append((pid, conn))
            if stale is not None:
                _quietly_close(stale)
        if self._ready_pid != pid:
            self._make_ready(conn, pid)
        return conn

    def _make_ready(self, conn: Any, pid: int) -> None:
        with self._ready_lock:
            if self._ready_pid == pid:
                return
            if self.migrate:
                migrations.apply(conn)
            for callback in self._on_ready:
                callback(conn)
            self._ready_pid = pid

    def release_thread(self) -> None:
        """Close the calling thread's connection, if it has one (a short-lived thread, such
        as a timed step's, must not leave its connection open for the process's life)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            return
        with self._opened_lock:
            self._opened = [(p, c) for p, c in self._opened if c is not conn]
        self._local.conn = None
        _quietly_close(conn)

    def close(self) -> None:
        """Close every connection this process opened, in any thread."""
        pid = os.getpid()
        with self._opened_lock:
            mine = [c for p, c in self._opened if p == pid]
            self._opened = []
        for conn in mine:
            _quietly_close(conn)
        self._local = threading.local()
        self._ready_pid = None


def _quietly_close(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not raise
        conn.close()


def open_database(settings: Any, migrate: bool = True) -> Database:
    """PostgreSQL when the settings name a URL, else the SQLite file. ``migrate=False`` for
    short-lived handles on a schema the workers already migrated (gunicorn's master)."""
    if getattr(settings, "postgres_url", None):
        return Database(settings.postgres_url, dialect="postgres",
                        schema=getattr(settings, "postgres_schema", "workflow_studio"),
                        migrate=migrate)
    return Database(settings.sqlite_file, migrate=migrate)

"""The database handle: one interface, one thin SQL dialect per engine.

Repositories write portable SQL with ``?`` placeholders and get rows as dicts; a dialect owns
connecting, transactions and placeholder style. Connections are opened lazily, per thread and
per process, so nothing opened before gunicorn forks is ever used after it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from workflow_studio.worker.storage import migrations

Row = dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; routes answer 503."""


class Connection(Protocol):
    """What repositories may use. Every method is one SQL statement."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def transaction(self) -> Any: ...


class SqliteConnection:
    """sqlite3 in autocommit mode; ``transaction()`` takes the write lock up front."""

    dialect = "sqlite"

    def __init__(self, path: str, busy_timeout_ms: int = 10_000) -> None:
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=busy_timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        self._depth = 0
        for pragma in (f"busy_timeout = {busy_timeout_ms}", "foreign_keys = ON",
                       "synchronous = NORMAL"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._enable_wal(busy_timeout_ms)

    def _enable_wal(self, busy_timeout_ms: int) -> None:
        # Switching to WAL needs a moment of exclusivity; processes starting together retry.
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(f"cannot enable WAL: {exc}") from exc
                time.sleep(0.01)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._run(sql, params).fetchall()]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self._run(sql, params).fetchone()
        return dict(row) if row is not None else None

    def _run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "unable to open" in str(exc) or "disk" in str(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._run("BEGIN IMMEDIATE", ())
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._run("COMMIT", ())

    def close(self) -> None:
        self._conn.close()


class Database:
    """A process's handle on one database; hands each thread its own connection."""

    def __init__(self, url_or_path: str) -> None:
        self.target = url_or_path
        self.dialect = "sqlite"
        self._local = threading.local()
        self._ready_lock = threading.Lock()
        self._ready_pid: int | None = None
        self._on_ready: list[Any] = []

    def on_ready(self, callback: Any) -> None:
        """Run ``callback(connection)`` once per process, after migrations (e.g. seed keys)."""
        self._on_ready.append(callback)

    def _open(self) -> SqliteConnection:
        Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        return SqliteConnection(self.target)

    def connection(self) -> SqliteConnection:
        """This thread's connection, opened (and the schema migrated) on first use."""
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid:
            try:
                conn = self._open()
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot create {self.target}: {exc.strerror}") from exc
            self._local.conn, self._local.pid = conn, pid
        if self._ready_pid != pid:
            self._make_ready(conn, pid)
        return conn

    def _make_ready(self, conn: SqliteConnection, pid: int) -> None:
        with self._ready_lock:
            if self._ready_pid == pid:
                return
            migrations.apply(conn)
            for callback in self._on_ready:
                callback(conn)
            self._ready_pid = pid

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()


def open_database(settings: Any) -> Database:
    """The database the settings name (SQLite now; the PostgreSQL dialect plugs in here)."""
    return Database(settings.sqlite_file)

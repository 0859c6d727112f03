"""The database handle: one interface, one thin SQL dialect per engine.

Repositories write portable SQL with ``?`` placeholders and get rows as dicts; a dialect
(``sqlite.py``, ``postgres.py``) owns connecting, transactions and placeholder style.
Connections are opened lazily, per thread and per process, so nothing opened before gunicorn
forks is ever used after it; a broken PostgreSQL connection is replaced on next use.

Every connection has the handle's ``Timeouts`` (a write waits at most ``lock_timeout`` for
a lock, then ``DatabaseBusy``), except the one migrations run on: it waits as long as
it takes, because a process that gave up migrating at boot would stop the whole server.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from workflow_studio.storage import migrations
from workflow_studio.storage.base import (
    NO_TIMEOUTS,
    Connection,
    DatabaseUnavailable,
    IntegrityError,
    Row,
    Timeouts,
)
from workflow_studio.storage.sqlite import SqliteConnection
from workflow_studio.storage.sqlite_file import SqliteFile
from workflow_studio.storage.sqlite_lock import WriterQueue

RECONNECT_PAUSE = 0.5  # seconds without connection attempts after one failed

__all__ = ["Connection", "Database", "DatabaseSettings", "DatabaseUnavailable",
           "IntegrityError", "Row", "SqliteConnection", "Timeouts", "open_database"]


class DatabaseSettings(Protocol):
    """What ``open_database`` reads of the worker's settings (storage imports no config)."""

    @property
    def postgres_url(self) -> str | None: ...
    @property
    def postgres_schema(self) -> str: ...
    @property
    def sqlite_file(self) -> str: ...
    @property
    def lock_timeout(self) -> float: ...
    @property
    def statement_timeout(self) -> float: ...
    @property
    def idle_in_transaction_timeout(self) -> float: ...


class Database:
    """A process's handle on one database; hands each thread its own connection.

    It owns all per-database state: the connections (per thread, per process) and, on
    SQLite, the ``SqliteFile`` its connections share (writer queue, checkpointer), made
    afresh in each process so a gunicorn worker never uses what the master opened.
    ``instances`` only lets tests close every handle they made (weak: it keeps none alive).
    """

    instances: weakref.WeakSet[Database] = weakref.WeakSet()

    def __init__(self, target: str, *, dialect: str = "sqlite",
                 schema: str = "workflow_studio", migrate: bool = True,
                 timeouts: Timeouts | None = None) -> None:
        self.target, self.dialect, self.schema = target, dialect, schema
        self.migrate = migrate  # False: the schema is known to be current (skip the check)
        self.timeouts = timeouts or Timeouts()
        self._local = threading.local()
        self._ready_lock = threading.Lock()
        self._ready_pid: int | None = None
        self._on_ready: list[Callable[[Connection], None]] = []
        self._opened: list[tuple[int, Connection]] = []  # (pid, connection), for close()
        self._opened_lock = threading.Lock()
        self._sqlite: SqliteFile | None = None  # this process's, see _sqlite_file()
        self._sqlite_lock = threading.Lock()
        self._retry_at = 0.0  # PostgreSQL: no connection attempt before this (monotonic)
        self._last_error = ""
        Database.instances.add(self)

    def on_ready(self, callback: Callable[[Connection], None]) -> None:
        """Run ``callback(connection)`` once per process, after migrations (e.g. seed keys)."""
        self._on_ready.append(callback)

    def start_background_checkpoints(self) -> None:
        """SQLite: checkpoint the WAL from a thread of this process (``sqlite_file.py``
        says why); nothing on PostgreSQL. Idempotent.

        Call it after forking (a gunicorn worker's ``post_worker_init``) and before the
        process connects: connections opened earlier keep checkpointing in their commits."""
        if self.dialect == "sqlite":
            self._sqlite_file().checkpoints.start()

    def _sqlite_file(self) -> SqliteFile:
        """This process's shared state for the SQLite file (a forked child makes its own)."""
        shared = self._sqlite
        if shared is None or shared.pid != os.getpid():
            with self._sqlite_lock:
                shared = self._sqlite
                if shared is None or shared.pid != os.getpid():
                    shared = self._sqlite = SqliteFile(self.target, self.timeouts.lock)
        return shared

    def sqlite_writers(self) -> WriterQueue | None:
        """This process's queue on the SQLite writer lock (its holder record, for
        ``worker.watchdog``); None on PostgreSQL."""
        return self._sqlite_file().writers if self.dialect == "sqlite" else None

    def writer_stalled(self) -> bool:
        """SQLite: no write can get the writer lock now (its holder has kept it past
        ``lock_timeout``, or a write of this process just gave up on it), so no run can
        move meanwhile and a long-poll need not wait on. Always False on PostgreSQL."""
        shared = self._sqlite
        return shared is not None and shared.pid == os.getpid() and shared.writers.stalled()

    @contextlib.contextmanager
    def lock_deadline(self, at: float) -> Iterator[None]:
        """No write of the calling thread waits for the SQLite writer lock past ``at``
        (``time.monotonic()``) meanwhile, whatever its own timeout (PostgreSQL: no-op)."""
        if self.dialect != "sqlite":
            yield
            return
        with self._sqlite_file().writers.deadline(at):
            yield

    def lock_budget(self, seconds: float | None) -> None:
        """SQLite: the calling thread's waits for the writer lock add up to at most
        ``seconds`` from now on (None: each waits up to ``lock_timeout``); no-op on
        PostgreSQL, whose sessions bound each lock wait themselves."""
        if self.dialect == "sqlite":
            self._sqlite_file().writers.set_budget(seconds)

    def _open(self, patient: bool = False) -> Connection:
        if self.dialect == "postgres":
            return self._open_postgres(patient)
        try:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create {self.target}: {exc.strerror}") from exc
        return SqliteConnection(self.target, shared=self._sqlite_file(), patient=patient)

    def _open_postgres(self, patient: bool = False) -> Connection:
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
            return PostgresConnection(self.target, self.schema,
                                      timeouts=NO_TIMEOUTS if patient else self.timeouts)
        except DatabaseUnavailable as exc:
            self._retry_at, self._last_error = time.monotonic() + RECONNECT_PAUSE, str(exc)
            raise

    def connection(self) -> Connection:
        """This thread's connection, opened (and the schema migrated) on first use."""
        pid = os.getpid()
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid or conn.broken:
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

    def _make_ready(self, conn: Connection, pid: int) -> None:
        with self._ready_lock:
            if self._ready_pid == pid:
                return
            if self.migrate:
                patient = self._open(patient=True)
                try:
                    migrations.apply(patient)
                finally:
                    _quietly_close(patient)
            for callback in self._on_ready:
                callback(conn)
            self._ready_pid = pid

    def release_thread(self) -> None:
        """Close the calling thread's connection, if it has one (a short-lived thread, such
        as a timed step's, must not leave its connection open for the process's life)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            return
        with self._opened_lock:
            self._opened = [(p, c) for p, c in self._opened if c is not conn]
        self._local.conn = None
        _quietly_close(conn)

    def close(self) -> None:
        """Close every connection this process opened, in any thread, and stop its
        checkpoint thread (the handle stays usable: it reconnects on next use)."""
        pid = os.getpid()
        with self._opened_lock:
            mine = [c for p, c in self._opened if p == pid]
            self._opened = []
        for conn in mine:
            _quietly_close(conn)
        self._local = threading.local()
        self._ready_pid = None
        shared, self._sqlite = self._sqlite, None
        if shared is not None and shared.pid == pid:
            shared.close()


def _quietly_close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not raise
        conn.close()


def open_database(settings: DatabaseSettings, migrate: bool = True,
                  environ: Mapping[str, str] | None = None) -> Database:
    """PostgreSQL when the settings name a URL, else the SQLite file. ``migrate=False`` for
    short-lived handles on a schema the workers already migrated (gunicorn's master).

    ``environ``: libpq's ``PGPASSWORD`` there becomes part of the connection string (unless
    the URL has a password of its own), for a process that takes it out of ``os.environ``
    after this (a worker does, before user code runs) and connects later, lazily."""
    timeouts = Timeouts(lock=settings.lock_timeout, statement=settings.statement_timeout,
                        idle_in_transaction=settings.idle_in_transaction_timeout)
    if settings.postgres_url:
        target = settings.postgres_url
        password = (environ or {}).get("PGPASSWORD", "")
        if password:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict, make_conninfo
            with contextlib.suppress(psycopg.Error):  # a bad URL fails when it connects
                if "password" not in conninfo_to_dict(target):
                    target = make_conninfo(target, password=password)
        return Database(target, dialect="postgres", schema=settings.postgres_schema,
                        migrate=migrate, timeouts=timeouts)
    return Database(settings.sqlite_file, migrate=migrate, timeouts=timeouts)

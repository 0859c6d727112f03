"""The SQLite dialect: WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes.

Writes queue on a lock file first, for at most ``lock_timeout`` (then ``DatabaseBusy``,
before anything is written), and WAL checkpoints run off the commit path; both belong to
the ``SqliteFile`` a connection shares with the process's other connections to the file
(``sqlite_file.py`` and ``sqlite_lock.py`` say why). A transaction is counted, in the lock
file, under the name of the function that opened it (``WriterQueue.kind_of``). A write
statement run outside a transaction gets one of its own, so it queues, is bounded and is
counted like the others instead of sleeping in SQLite's busy handler; SQLite's own busy
timeout is ``lock_timeout`` too, for the writers the queue does not order (a lock file
that cannot be opened, a thread already holding the lock through another connection).

``temp_store = MEMORY``: a SAVEPOINT (one per group-committed unit) and a many-row statement
journal the pages they touch so they can roll back alone. By default that journal is a
temporary file, which cost half of a worker's write syscalls under load; it only ever
serves a rollback inside the open transaction, so memory is enough.

``journal_size_limit``: a WAL that was started over is cut back to ``JOURNAL_SIZE_LIMIT``
by the first commit after the restart (``sqlite_file.py`` says why that size).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from workflow_studio.storage.base import (
    DatabaseBusy,
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    JoinedTransactions,
    Params,
    Row,
)
from workflow_studio.storage.sqlite_file import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT, SqliteFile

_UNAVAILABLE = ("unable to open", "disk", "readonly")
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLAC"})  # what a statement starts with
MAX_VARIABLES = 32_000  # per statement (SQLite >= 3.32 allows 32,766)
PATIENT_BUSY_MS = 10_000  # SQLite's busy timeout for a connection with no lock timeout


class SqliteConnection(JoinedTransactions):
    """sqlite3 in autocommit mode; ``transaction()`` takes the write lock up front.

    ``shared``: the process's ``SqliteFile`` for ``path`` (a ``Database`` passes its own);
    without one the connection has a private one, as a script's lone connection would.
    ``patient``: wait for the writer lock as long as it takes, not ``lock_timeout`` (the
    migrations at boot: a worker that gave up there would stop the whole server).
    """

    dialect = "sqlite"
    broken = False  # a local file: an error never leaves the connection unusable

    def __init__(self, path: str, busy_timeout_ms: int | None = None, *,
                 shared: SqliteFile | None = None, patient: bool = False) -> None:
        """``busy_timeout_ms``: SQLite's busy timeout (default: the lock timeout)."""
        self._file = shared if shared is not None else SqliteFile(path)
        lock_timeout = None if patient else self._file.writers.timeout
        if busy_timeout_ms is None:
            busy_timeout_ms = PATIENT_BUSY_MS if lock_timeout is None else max(
                1, round(lock_timeout * 1000))
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=busy_timeout_ms / 1000)
            self._conn.row_factory = sqlite3.Row
            for pragma in (f"busy_timeout = {busy_timeout_ms}", "foreign_keys = ON",
                           "synchronous = NORMAL", "temp_store = MEMORY",
                           f"journal_size_limit = {JOURNAL_SIZE_LIMIT}"):
                self._conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        self._depth = 0
        self._checkpoints = self._file.checkpoints
        if self._checkpoints.running:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        self._writers = self._file.writers
        self._lock = self._writers.open(patient=patient)
        self._enable_wal()

    def _enable_wal(self) -> None:
        # Switching to WAL needs a moment of exclusivity; processes starting together retry.
        deadline = time.monotonic() + PATIENT_BUSY_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(f"cannot enable WAL: {exc}") from exc
                time.sleep(0.01)

    def _alone(self, sql: str) -> str | None:
        """Outside a transaction (the caller checks ``_depth`` first: the hot path is inside
        one): the kind to count a write statement's own transaction under (the caller's
        caller, the repository function), or None when it is no write."""
        if sql[:6].upper() not in _WRITES:
            return None
        return self._writers.kind_of(sys._getframe(2).f_code)

    def execute(self, sql: str, params: Params = ()) -> int:
        kind = None if self._depth else self._alone(sql)
        if kind is not None:
            with self.transaction(kind):
                return self._run(sql, params).rowcount
        return self._run(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        kind = None if self._depth else self._alone(sql)
        if kind is not None:
            with self.transaction(kind):
                self._executemany(sql, rows)
            return
        self._executemany(sql, rows)

    def _executemany(self, sql: str, rows: Sequence[Params]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except sqlite3.OperationalError as exc:
            raise self._operational(exc) from exc

    def insert_many(self, sql: str, rows: Sequence[Params]) -> None:
        kind = None if self._depth else self._alone(sql)
        if kind is not None:
            with self.transaction(kind):
                self._insert_many(sql, rows)
            return
        self._insert_many(sql, rows)

    def _insert_many(self, sql: str, rows: Sequence[Params]) -> None:
        head, _, group = sql.partition(" VALUES ")
        per_statement = max(1, MAX_VARIABLES // max(1, group.count("?")))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            self._run(f"{head} VALUES {', '.join([group] * len(chunk))}",
                      [value for row in chunk for value in row])

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        kind = None if self._depth else self._alone(sql)  # INSERT ... RETURNING
        if kind is not None:
            with self.transaction(kind):
                return [dict(r) for r in self._run(sql, params).fetchall()]
        return [dict(r) for r in self._run(sql, params).fetchall()]

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        kind = None if self._depth else self._alone(sql)
        if kind is not None:
            with self.transaction(kind):
                row = self._run(sql, params).fetchone()
        else:
            row = self._run(sql, params).fetchone()
        return dict(row) if row is not None else None

    @staticmethod
    def _operational(exc: sqlite3.OperationalError) -> Exception:
        """The portable exception for an operational error (``exc`` if it has none)."""
        text = str(exc)
        if "locked" in text:  # SQLite's busy timeout ran out
            return DatabaseBusy(text)
        if any(marker in text for marker in _UNAVAILABLE):
            return DatabaseUnavailable(text)
        return exc

    def _run(self, sql: str, params: Params) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except OverflowError as exc:  # an integer beyond 64 bits
            raise InvalidInput(str(exc)) from exc
        except sqlite3.OperationalError as exc:
            mapped = self._operational(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @contextmanager
    def transaction(self, kind: str | None = None) -> Iterator[SqliteConnection]:
        """``kind``: what the lock file counts it as; by default the function that opened it
        (the caller's frame: transaction() -> contextlib's __enter__ -> the caller)."""
        if self._depth:
            with self._joined():
                yield self
            return
        locked = self._lock.acquire(kind or self._writers.kind_of(sys._getframe(2).f_code))
        try:
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
            self._checkpoints.dirty = True
        finally:
            if locked:
                self._lock.release()

    def hold_positions(self, table: str) -> None:
        """Nothing to do: the one writer takes positions in commit order."""

    def settled_position(self, table: str) -> int | None:
        return None

    def lock(self, name: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's one write lock."""

    def create_schema(self) -> None:
        """Nothing to do: the database file is the schema."""

    def close(self) -> None:
        self._conn.close()
        self._lock.close()

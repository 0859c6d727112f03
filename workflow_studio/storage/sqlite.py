"""The SQLite dialect: WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes.

Writes queue on a lock file first and WAL checkpoints run off the commit path; both belong
to the ``SqliteFile`` a connection shares with the process's other connections to the file
(``sqlite_file.py`` says why).

``temp_store = MEMORY``: a SAVEPOINT (one per group-committed unit) and a many-row statement
journal the pages they touch so they can roll back alone. By default that journal is a
temporary file, which cost half of a worker's write syscalls under load; it only ever
serves a rollback inside the open transaction, so memory is enough.

``journal_size_limit``: a WAL that was started over is cut back to ``JOURNAL_SIZE_LIMIT``
by the first commit after the restart (``sqlite_file.py`` says why that size).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from workflow_studio.storage.base import (
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    JoinedTransactions,
    Params,
    Row,
)
from workflow_studio.storage.sqlite_file import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT, SqliteFile

_UNAVAILABLE = ("locked", "unable to open", "disk", "readonly")
MAX_VARIABLES = 32_000  # per statement (SQLite >= 3.32 allows 32,766)


class SqliteConnection(JoinedTransactions):
    """sqlite3 in autocommit mode; ``transaction()`` takes the write lock up front.

    ``shared``: the process's ``SqliteFile`` for ``path`` (a ``Database`` passes its own);
    without one the connection has a private one, as a script's lone connection would.
    """

    dialect = "sqlite"
    broken = False  # a local file: an error never leaves the connection unusable

    def __init__(self, path: str, busy_timeout_ms: int = 10_000, *,
                 shared: SqliteFile | None = None) -> None:
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
        self._file = shared if shared is not None else SqliteFile(path)
        self._checkpoints = self._file.checkpoints
        if self._checkpoints.running:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        self._lock_fd = self._file.writers.open()
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

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._run(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def insert_many(self, sql: str, rows: Sequence[Params]) -> None:
        head, _, group = sql.partition(" VALUES ")
        per_statement = max(1, MAX_VARIABLES // max(1, group.count("?")))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            self._run(f"{head} VALUES {', '.join([group] * len(chunk))}",
                      [value for row in chunk for value in row])

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(r) for r in self._run(sql, params).fetchall()]

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        row = self._run(sql, params).fetchone()
        return dict(row) if row is not None else None

    def _run(self, sql: str, params: Params) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except OverflowError as exc:  # an integer beyond 64 bits
            raise InvalidInput(str(exc)) from exc
        except sqlite3.OperationalError as exc:
            if any(marker in str(exc) for marker in _UNAVAILABLE):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
        if self._depth:
            with self._joined():
                yield self
            return
        fd = self._lock_fd
        locked = self._file.writers.acquire(fd)
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
            if locked and fd is not None:
                self._file.writers.release(fd)

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
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

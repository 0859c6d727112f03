"""The SQLite dialect: WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workflow_studio.worker.storage.base import DatabaseUnavailable, IntegrityError, Row

_UNAVAILABLE = ("locked", "unable to open", "disk", "readonly")


class SqliteConnection:
    """sqlite3 in autocommit mode; ``transaction()`` takes the write lock up front."""

    dialect = "sqlite"

    def __init__(self, path: str, busy_timeout_ms: int = 10_000) -> None:
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=busy_timeout_ms / 1000)
            self._conn.row_factory = sqlite3.Row
            for pragma in (f"busy_timeout = {busy_timeout_ms}", "foreign_keys = ON",
                           "synchronous = NORMAL"):
                self._conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        self._depth = 0
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

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._run(sql, params).fetchall()]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self._run(sql, params).fetchone()
        return dict(row) if row is not None else None

    def _run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except sqlite3.OperationalError as exc:
            if any(marker in str(exc) for marker in _UNAVAILABLE):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
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

    def lock(self, name: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's one write lock."""

    def close(self) -> None:
        self._conn.close()

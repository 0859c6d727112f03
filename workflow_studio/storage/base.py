"""What every dialect provides and every repository may use: rows, errors, the interface."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

Row = dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; routes answer 503 and callers back off."""


class IntegrityError(Exception):
    """A constraint (unique, foreign key, check) rejected a write, in any dialect."""


class InvalidInput(Exception):
    """A value the database cannot store or compare (an integer out of range, a NUL
    character on PostgreSQL): the caller's mistake, answered with 400."""


class Connection(Protocol):
    """What repositories may use. SQL uses ``?`` placeholders; rows are dicts."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql``, an INSERT with one ``VALUES (?, ...)`` group, for every row of ``rows``
        at once: one multi-row statement on SQLite; on PostgreSQL one pipelined batch of a
        statement psycopg parses once (a long multi-row statement is re-parsed on every
        call, which cost more CPU than the round trips it saves)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction; nested calls join the outer one."""
        ...

    def lock(self, name: str) -> None:
        """Serialise writers on ``name`` until the transaction ends.

        Use it where correctness needs "read, then write" to be atomic across processes and
        nodes (next version number, check-then-insert). SQLite's BEGIN IMMEDIATE already
        holds the one write lock; PostgreSQL takes a transaction-level advisory lock.
        """
        ...

    def close(self) -> None: ...


class JoinedTransactions:
    """A dialect's ``transaction()`` opened inside another joins it: only the outermost one
    begins and commits (``_depth`` counts the levels)."""

    _depth = 0

    @contextmanager
    def _joined(self) -> Iterator[Any]:
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1

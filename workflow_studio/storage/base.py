"""What every dialect provides and every repository may use: rows, errors, the interface."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

Row = dict[str, Any]
Params = Sequence[object]  # the values of a statement's ``?`` placeholders, in order
DEFAULT_LOCK_TIMEOUT = 2.0  # seconds; the worker's come from its settings (``Timeouts``)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """How long a process's sessions may wait or stand still (None: no limit).

    ``lock``: a write waiting for a lock (the SQLite writer lock; PostgreSQL's
    ``lock_timeout``); PostgreSQL's ``statement_timeout`` and
    ``idle_in_transaction_session_timeout`` besides, so the server cuts off a session whose
    process stopped inside a transaction, and its locks go with it."""

    lock: float | None = DEFAULT_LOCK_TIMEOUT
    statement: float | None = 30.0
    idle_in_transaction: float | None = 10.0


NO_TIMEOUTS = Timeouts(lock=None, statement=None, idle_in_transaction=None)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; routes answer 503 and callers back off."""


class DatabaseBusy(DatabaseUnavailable):
    """A write waited ``lock_timeout`` for a lock another process holds (the SQLite writer
    lock, a PostgreSQL row or advisory lock) and gave up: nothing of it was written. A
    ``DatabaseUnavailable`` for callers that back off alike; routes answer 503
    ``database_busy``."""


class IntegrityError(Exception):
    """A constraint (unique, foreign key, check) rejected a write, in any dialect."""


class InvalidInput(Exception):
    """A value the database cannot store or compare (an integer out of range, a NUL
    character on PostgreSQL): the caller's mistake, answered with 400."""


class Connection(Protocol):
    """What repositories may use. SQL uses ``?`` placeholders; rows are dicts.

    ``SqliteConnection`` and ``PostgresConnection`` satisfy it; ``Database.connection()``
    returns one, so code above storage never depends on a dialect's class.
    """

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgres"``: for the few statements that differ."""
        ...

    @property
    def broken(self) -> bool:
        """The connection can no longer be used; ``Database`` replaces it on next use."""
        ...

    @property
    def in_transaction(self) -> bool:
        """A ``transaction()`` is open on this connection (a new one would join it)."""
        ...

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run ``sql`` once per row of parameters."""
        ...

    def query(self, sql: str, params: Params = ()) -> list[Row]: ...
    def query_one(self, sql: str, params: Params = ()) -> Row | None: ...

    def insert_many(self, sql: str, rows: Sequence[Params]) -> None:
        """``sql``, an INSERT with one ``VALUES (?, ...)`` group, for every row of ``rows``
        at once: one multi-row statement on SQLite; on PostgreSQL one pipelined batch of a
        statement psycopg parses once (a long multi-row statement is re-parsed on every
        call, which cost more CPU than the round trips it saves)."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction; nested calls join the outer one."""
        ...

    def lock(self, name: str) -> None:
        """Serialise writers on ``name`` until the transaction ends.

        Use it where correctness needs "read, then write" to be atomic across processes and
        nodes (next version number, check-then-insert). SQLite's BEGIN IMMEDIATE already
        holds the one write lock; PostgreSQL takes a transaction-level advisory lock.
        """
        ...

    def hold_positions(self, table: str) -> None:
        """This transaction is about to take positions of ``table`` (events, stream chunks):
        until it ends, readers page no further than the positions it may take
        (``settled_position``). No-op where the positions are taken in commit order."""
        ...

    def settled_position(self, table: str) -> int | None:
        """The highest position of ``table`` a reader may page up to: no transaction still
        open can commit a position at or below it. None: no bound (SQLite's one writer
        takes positions in commit order)."""
        ...

    def create_schema(self) -> None:
        """Create the schema the connection works in if it is missing (PostgreSQL; a SQLite
        file is its own schema). The migrations call it, under their lock."""
        ...

    def close(self) -> None: ...


class JoinedTransactions:
    """A dialect's ``transaction()`` opened inside another joins it: only the outermost one
    begins and commits (``_depth`` counts the levels)."""

    _depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def _joined(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

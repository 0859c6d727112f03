"""The PostgreSQL dialect (psycopg 3): one connection per thread, in a configurable schema.

A connection that breaks is dropped and reopened on next use; while the server is down every
call raises ``DatabaseUnavailable`` so routes answer 503 and background loops back off.

Each session sets ``lock_timeout``, ``statement_timeout`` and
``idle_in_transaction_session_timeout`` (``Timeouts``): a write that waits past the first
for a row or advisory lock another session holds (say, of a process stopped inside its
transaction) raises ``DatabaseBusy``, nothing of it written; and the server ends a session
left idle inside a transaction for longer than the last, so the locks of a process that
stopped there are released (its claims then lapse with their leases, or sooner when gunicorn
replaces it). ``application_name`` names the process (``workflow-studio pid=N``), so
``pg_stat_activity`` shows which worker process a session belongs to.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from workflow_studio.storage.base import (
    DatabaseBusy,
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    JoinedTransactions,
    Params,
    Row,
    Timeouts,
)

_PLACEHOLDER = re.compile(r"\?")
MAX_PARAMETERS = 65_535  # per statement (the protocol's limit)


@functools.lru_cache(maxsize=1024)
def _multi_row(sql: str, count: int) -> str:
    """``INSERT ... VALUES (?, ?)`` for ``count`` rows with ``$n`` placeholders.

    A pure function of its arguments, memoised (bounded) because the engine inserts the
    same few statements at the same few sizes over and over."""
    head, _, group = sql.partition(" VALUES ")
    parts = group.split("?")
    width = len(parts) - 1
    groups = []
    for row in range(count):
        numbered = [parts[0]]
        for index, part in enumerate(parts[1:]):
            numbered.append(f"${row * width + index + 1}{part}")
        groups.append("".join(numbered))
    return f"{head} VALUES {', '.join(groups)}"


@functools.lru_cache(maxsize=4096)
def to_pg(sql: str) -> str:
    """Portable ``?`` placeholders to psycopg's ``%s`` (literal ``%`` doubled).

    Pure, and memoised (bounded: a statement built with a variable part, such as an
    ``IN (?, ?, ...)`` list, must not grow the cache for the process's life)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


# Commit-order-safe positions. An IDENTITY value is taken at INSERT, so two transactions
# can commit positions out of order: a reader paging "after position N" would step past a
# lower position that commits a moment later. So a transaction that takes positions of a
# table first takes a shared advisory lock keyed by the table's sequence value *before*
# its own INSERTs (its positions will be above that key); it holds it until it ends.
# A reader reads the sequence's last value L, then the smallest key K still held: every
# position at or below min(L, K) was taken by a transaction that has ended. The key is two
# int4 halves (the single-bigint form, objsubid 1, is the app's other advisory locks): the
# first carries a 15-bit tag of (schema, table) in its high half and the position's bits
# 31-46, the second bits 0-30, so positions are bounded by 2**47 (1.4e14) per table.
_POSITION_SEQUENCES = MappingProxyType({"workflow_events": "workflow_events_position_seq",
                                        "stream_chunks": "stream_chunks_position_seq"})
_TAKEN = "(CASE WHEN is_called THEN last_value ELSE last_value - 1 END)"  # the last one taken
_HOLD_POSITIONS = (
    f"SELECT pg_advisory_xact_lock_shared((?::int << 16) | ({_TAKEN} >> 31)::int,"
    f" ({_TAKEN} & 2147483647)::int) IS NULL AS held FROM {{sequence}}")
_HELD_KEYS = (
    "SELECT MIN(((classid::bigint & 65535) << 31) | objid::bigint) AS low FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 2 AND classid::bigint >> 16 = ?::int"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


@functools.lru_cache(maxsize=64)
def _position_tag(schema: str, table: str) -> int:
    """15 bits naming (schema, table), so other schemas' writers do not hold ours back."""
    return int.from_bytes(hashlib.sha256(f"{schema}.{table}".encode()).digest()[:2]) >> 1


def _session_settings(schema: str, timeouts: Timeouts) -> pgsql.Composed:
    """One round trip of ``SET``s for a new session (the search path and the timeouts)."""
    sets = [pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema))]
    for name, seconds in (("lock_timeout", timeouts.lock),
                          ("statement_timeout", timeouts.statement),
                          ("idle_in_transaction_session_timeout",
                           timeouts.idle_in_transaction)):
        milliseconds = 0 if seconds is None else max(1, round(seconds * 1000))  # 0: none
        sets.append(pgsql.SQL("SET {} = {}").format(pgsql.Identifier(name),
                                                      pgsql.Literal(milliseconds)))
    return pgsql.SQL("; ").join(sets)


class PostgresConnection(JoinedTransactions):
    """psycopg in autocommit mode, rows as dicts; ``transaction()`` is psycopg's."""

    dialect = "postgres"

    def __init__(self, url: str, schema: str, connect_timeout: int = 5, *,
                 timeouts: Timeouts | None = None) -> None:
        self.url, self.schema = url, schema
        try:
            self._conn = psycopg.connect(url, autocommit=True, row_factory=dict_row,
                                         connect_timeout=connect_timeout,
                                         application_name=f"workflow-studio pid={os.getpid()}")
            # The schema itself is created by the migrations, under their lock.
            self._conn.execute(_session_settings(schema, timeouts or Timeouts()))
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        self._depth = 0
        self._holding: set[str] = set()  # tables whose positions this transaction holds

    @property
    def broken(self) -> bool:
        return self._conn.closed or self._conn.broken

    def _translate(self, exc: psycopg.Error) -> Exception:
        """The portable exception for a psycopg error (``exc`` itself when it has none).

        Operational errors (server gone, admin shutdown, deadlock and serialisation
        failures) and any error on a connection that is now broken or closed (psycopg then
        raises ``InterfaceError``) mean "try again later": ``DatabaseUnavailable``; a lock
        wait or a statement that ran out of its time (``lock_timeout``,
        ``statement_timeout``) is the ``DatabaseBusy`` kind of it.
        """
        if isinstance(exc, psycopg.errors.IntegrityError):
            return IntegrityError(str(exc))
        if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled) \
                and not self.broken:
            return DatabaseBusy(str(exc).splitlines()[0])
        if isinstance(exc, psycopg.DataError) and not self.broken:
            return InvalidInput(str(exc).splitlines()[0])
        if isinstance(exc, psycopg.OperationalError) or self.broken:
            return DatabaseUnavailable(str(exc))
        return exc

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """psycopg errors raised inside become their portable exception (``_translate``)."""
        try:
            yield
        except psycopg.Error as exc:
            mapped = self._translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _cursor(self, sql: str, params: Params) -> psycopg.Cursor[Row]:
        with self._translated():
            return self._conn.execute(to_pg(sql), tuple(params))

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._cursor(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._translated(), self._conn.cursor() as cur:
            cur.executemany(to_pg(sql), [tuple(r) for r in rows])

    def insert_many(self, sql: str, rows: Sequence[Params]) -> None:
        """One multi-row statement with PostgreSQL's own ``$n`` placeholders, sent by a
        ``RawCursor``: psycopg does not parse it (a long ``%s`` statement is re-parsed on
        every call) and it is one round trip (``executemany`` pipelines, but its send and
        receive loop cost more CPU than the statement)."""
        if not rows:
            return
        width = len(rows[0])
        per_statement = max(1, MAX_PARAMETERS // max(1, width))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            statement = _multi_row(sql, len(chunk))
            with self._translated(), psycopg.RawCursor(self._conn) as cursor:
                cursor.execute(statement, [value for row in chunk for value in row])

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._cursor(sql, params).fetchall())

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        return self._cursor(sql, params).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[PostgresConnection]:
        if self._depth:
            with self._joined():
                yield self
            return
        self._depth = 1
        self._holding.clear()
        try:
            with self._translated(), self._conn.transaction():
                yield self
        finally:
            self._depth = 0
            self._holding.clear()

    def hold_positions(self, table: str) -> None:
        if table in self._holding:
            return
        if not self._depth:
            raise RuntimeError(f"positions of {table} taken outside a transaction")
        self.query_one(_HOLD_POSITIONS.format(sequence=_POSITION_SEQUENCES[table]),
                       (_position_tag(self.schema, table),))
        self._holding.add(table)

    def settled_position(self, table: str) -> int | None:
        """Read in this order (see ``_HOLD_POSITIONS``): the sequence first, then the keys;
        the caller's next statement then sees every position at or below the answer."""
        last = self.query_one(
            f"SELECT {_TAKEN} AS last_value FROM {_POSITION_SEQUENCES[table]}")
        held = self.query_one(_HELD_KEYS, (_position_tag(self.schema, table),))
        bound = int(last["last_value"]) if last else 0
        if held and held["low"] is not None:
            bound = min(bound, int(held["low"]))
        return bound

    def lock(self, name: str) -> None:
        self.query_one("SELECT pg_advisory_xact_lock(hashtextextended(?, 0)) AS locked",
                       (f"{self.schema}:{name}",))

    def create_schema(self) -> None:
        self.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            pgsql.Identifier(self.schema)).as_string(self._conn))

    def close(self) -> None:
        self._conn.close()

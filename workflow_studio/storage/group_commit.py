"""Group commit: the write transactions of several threads of one process in one commit.

SQLite has one write lock per database. Under load it is held nearly all the time, and each
commit costs 0.1-0.2 ms of WAL writes whatever it holds, plus a hand-off of the lock to the
next writer (which must first win its own process's GIL). Threads that want to write at the
same moment therefore hand their units to one of them, the leader: it runs each unit in a
SAVEPOINT of one transaction (nested, never released one by one) and commits once. Every
thread returns only after that commit, so nothing is reported durable before it is. A unit
that raises is rolled back to its own savepoint and its exception re-raised in its own
thread; the other units still commit.

A unit is a function of the leader's connection: it must not use a connection of its own.
On PostgreSQL (and inside a transaction already open) a unit is simply a transaction of its
own: there, row locks taken for one unit would be held for the others' sake, and an error
aborts the whole transaction.

The wait for the writer lock is bounded per unit, not per leader: a leader waits no longer
than its oldest unit may (``lock_timeout`` from when that unit was queued), so a unit queued
behind a leader that gave up (``DatabaseBusy``) is not made to wait a second timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from workflow_studio.storage.base import Connection

if TYPE_CHECKING:
    from workflow_studio.storage.database import Database

T = TypeVar("T")
MAX_UNITS = 32  # per commit; the rest wait for the next leader


class _Unit:
    __slots__ = ("done", "error", "fn", "lead", "queued_at", "result")

    def __init__(self, fn: Callable[[Connection], Any]) -> None:
        self.fn = fn
        self.queued_at = time.monotonic()
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lead = False  # set (with ``done``) when this unit's thread must lead next


class GroupCommit:
    """One process's queue of write units for one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._mutex = threading.Lock()
        self._queue: list[_Unit] = []
        self._leading = False

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction (possibly shared); its result once
        committed, or its exception (or the commit's)."""
        conn = self.db.connection()
        if conn.dialect != "sqlite" or conn.in_transaction:
            with conn.transaction():
                return fn(conn)
        unit = _Unit(fn)
        with self._mutex:
            self._queue.append(unit)
            lead = not self._leading
            self._leading = True
        if not lead:
            unit.done.wait()
            lead = unit.lead
        if lead:
            self._lead(conn)
        if unit.error is not None:
            raise unit.error
        return unit.result  # type: ignore[no-any-return]

    def _lead(self, conn: Connection) -> None:
        with self._mutex:
            batch = self._queue[:MAX_UNITS]
            del self._queue[:MAX_UNITS]
        try:
            lock_timeout = self.db.timeouts.lock
            if lock_timeout is None:
                _execute(conn, batch)
            else:
                with self.db.lock_deadline(batch[0].queued_at + lock_timeout):
                    _execute(conn, batch)
        finally:
            with self._mutex:
                if self._queue:  # the first waiting thread leads the next commit
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._leading = False
            for unit in batch:
                unit.done.set()


def _execute(conn: Connection, batch: list[_Unit]) -> None:
    if len(batch) == 1:
        unit = batch[0]
        try:
            with conn.transaction():
                unit.result = unit.fn(conn)
        except BaseException as exc:
            unit.error = exc
        return
    try:
        with conn.transaction():
            for unit in batch:
                conn.execute("SAVEPOINT unit")
                try:
                    unit.result = unit.fn(conn)
                except BaseException as exc:
                    unit.error = exc
                    conn.execute("ROLLBACK TO unit")  # the latest "unit": this one's
                # Not released: the savepoints nest until COMMIT, one statement fewer per
                # unit inside the writer lock.
    except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the batch is durable
        for unit in batch:
            if unit.error is None:
                unit.error, unit.result = exc, None

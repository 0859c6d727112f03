"""The SQLite dialect: WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes.

Writers queue on an ``flock`` of ``<database>-writer.lock`` before ``BEGIN IMMEDIATE``.
Why: SQLite's own busy handler *sleeps* (1, 2, 5, 10, ... ms) and retries, so with several
threads and processes writing, a waiter sleeps milliseconds after the lock is already free:
under load most of a worker's time went to those sleeps (profiled: ~20% of samples in
``BEGIN IMMEDIATE``). The kernel wakes an ``flock`` waiter the moment the holder releases
it. The lock is advisory and only orders writers that cooperate; SQLite's own locking still
guards correctness, and a writer that cannot open the lock file falls back to it. A thread
that already holds the file lock through another connection to the same file does not wait
for itself (``flock`` has no timeout): it falls back to SQLite's busy timeout, as before.

WAL checkpoints: by default SQLite checkpoints inside the ``COMMIT`` that crosses 1,000 WAL
pages, so every ~50th trigger paid an fsync-bound 5-15 ms while holding the write lock (the
p99 of a run, and a sixth of the lock's time under load). A gunicorn worker process calls
``start_background_checkpoints``: a thread of its own then runs ``PASSIVE`` checkpoints (which
never block writers) every ``CHECKPOINT_INTERVAL`` s after commits, and commits keep a far
threshold only as a backstop. Checkpoints move committed pages from the WAL into the database
file; what is durable, and when, does not change.

Starting the WAL over: a writer writes from the WAL's start again only if, when its
transaction began, every frame was already checkpointed. Under steady commits a checkpoint
that runs beside the writers never gets there (they append while it copies), so the WAL
grew to the backstop and one commit in ~20,000 pages paid a whole checkpoint with the write
lock held (4-13 ms: W2's p99). So once the WAL passes ``RESTART_PAGES``, the checkpointer
catches up without the lock, then holds the writer queue's ``flock`` for one last pass over
the few frames appended meanwhile; the next writer then starts the WAL over.

``temp_store = MEMORY``: a SAVEPOINT (one per group-committed unit) and a many-row statement
journal the pages they touch so they can roll back alone. By default that journal is a
temporary file, which cost half of a worker's write syscalls under load; it only ever
serves a rollback inside the open transaction, so memory is enough.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workflow_studio.storage.base import (
    DatabaseUnavailable,
    IntegrityError,
    InvalidInput,
    JoinedTransactions,
    Row,
)

_UNAVAILABLE = ("locked", "unable to open", "disk", "readonly")
_held = threading.local()  # .paths: lock files this thread holds
CHECKPOINT_INTERVAL = 0.1
# Two wal-index hash blocks (a reader looks a page up in each, newest first): ~32 MB.
RESTART_PAGES = 8192
FINAL_PASS_PAGES = 256  # catch up unlocked until a pass finds at most this many new frames
CATCH_UP_PASSES = 4
MAX_VARIABLES = 32_000  # per statement (SQLite >= 3.32 allows 32,766)
BACKSTOP_PAGES = 20_000  # ~80 MB of WAL: commits checkpoint only if the thread falls behind
_background: dict[str, threading.Thread] = {}  # database path -> its checkpointer here
_dirty: dict[str, bool] = {}  # database path -> committed since the last checkpoint


def start_background_checkpoints(path: str) -> None:
    """Checkpoint ``path``'s WAL from a thread of this process (see the module docstring).

    Call it after forking (a gunicorn worker's ``post_worker_init``), before connecting."""
    key = os.path.abspath(path)
    running = _background.get(key)
    if running is not None and running.is_alive():
        return
    thread = threading.Thread(target=_checkpoint_loop, args=(key,), daemon=True,
                              name="sqlite-checkpoint")
    _background[key] = thread
    thread.start()


def _checkpoint_loop(path: str) -> None:
    checkpointer: _Checkpointer | None = None
    while _background.get(path) is threading.current_thread():  # unregistered: stop
        time.sleep(CHECKPOINT_INTERVAL)
        if not _dirty.get(path):
            continue
        _dirty[path] = False
        try:
            if checkpointer is None:
                checkpointer = _Checkpointer(path)
            checkpointer.run()
        except sqlite3.Error:
            _dirty[path] = True  # try again next time; the backstop still bounds the WAL


def _writer_lock_path(path: str) -> str:
    return os.path.abspath(f"{path}-writer.lock")


def _open_writer_lock(path: str) -> int | None:
    """Our own open file description of the writer queue's lock file (flock then excludes
    other threads too), or None if it cannot be opened."""
    try:
        return os.open(_writer_lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


class _Checkpointer:
    """The background checkpoint thread's connection and writer-queue lock file."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.lock_fd = _open_writer_lock(path)

    def _pass(self) -> tuple[bool, int]:
        """One PASSIVE checkpoint: (another checkpoint was running, frames in the WAL)."""
        busy, frames, _ = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return bool(busy), int(frames)

    def run(self) -> None:
        busy, frames = self._pass()
        if busy or frames < RESTART_PAGES or self.lock_fd is None:
            return
        for _ in range(CATCH_UP_PASSES):
            busy, now = self._pass()
            if busy or now < frames:  # another checkpointer, or the WAL already restarted
                return
            appended, frames = now - frames, now
            if appended <= FINAL_PASS_PAGES:
                break
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            self._pass()  # no writer appends meanwhile: every frame ends up checkpointed
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)


class SqliteConnection(JoinedTransactions):
    """sqlite3 in autocommit mode; ``transaction()`` takes the write lock up front."""

    dialect = "sqlite"

    def __init__(self, path: str, busy_timeout_ms: int = 10_000) -> None:
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=busy_timeout_ms / 1000)
            self._conn.row_factory = sqlite3.Row
            for pragma in (f"busy_timeout = {busy_timeout_ms}", "foreign_keys = ON",
                           "synchronous = NORMAL", "temp_store = MEMORY"):
                self._conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        self._depth = 0
        self._path = os.path.abspath(path)
        if self._path in _background:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        self._lock_path = _writer_lock_path(path)
        self._lock_fd = _open_writer_lock(path)
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

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        head, _, group = sql.partition(" VALUES ")
        per_statement = max(1, MAX_VARIABLES // max(1, group.count("?")))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            self._run(f"{head} VALUES {', '.join([group] * len(chunk))}",
                      [value for row in chunk for value in row])

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
        locked = self._writer_lock()
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
            _dirty[self._path] = True
        finally:
            if locked:
                _held.paths.discard(self._lock_path)
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def _writer_lock(self) -> bool:
        """Queue behind other writers (see the module docstring); False if we could not."""
        paths: set[str] | None = getattr(_held, "paths", None)
        if paths is None:
            paths = _held.paths = set()
        if self._lock_fd is None or self._lock_path in paths:
            return False
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except OSError:
            return False
        paths.add(self._lock_path)
        return True

    def lock(self, name: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's one write lock."""

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

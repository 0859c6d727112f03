"""What one process's connections to one SQLite file share: the writer queue and the
background checkpointer.

Writer queue: writers ``flock`` ``<database>-writer.lock`` before ``BEGIN IMMEDIATE``.
Why: SQLite's own busy handler *sleeps* (1, 2, 5, 10, ... ms) and retries, so with several
threads and processes writing, a waiter sleeps milliseconds after the lock is already free:
under load most of a worker's time went to those sleeps (profiled: ~20% of samples in
``BEGIN IMMEDIATE``). The kernel wakes an ``flock`` waiter the moment the holder releases
it. The lock is advisory and only orders writers that cooperate; SQLite's own locking still
guards correctness, and a writer that cannot open the lock file falls back to it. Each
connection has its own open file description of the lock file (so ``flock`` excludes other
threads too); a thread that already holds the lock through another connection sharing the
same ``SqliteFile`` does not wait for itself: it falls back to SQLite's busy timeout. No
writer waits longer than ``lock_timeout`` (``DatabaseBusy``), and the lock file records its
holder and how long each kind of transaction held it (``sqlite_lock.py`` and
``lock_record.py`` say how and why).

WAL checkpoints: by default SQLite checkpoints inside the ``COMMIT`` that crosses 1,000 WAL
pages, so every ~50th trigger paid an fsync-bound 5-15 ms while holding the write lock (the
p99 of a run, and a sixth of the lock's time under load). A gunicorn worker process calls
``Database.start_background_checkpoints``: a thread of its own then runs ``PASSIVE``
checkpoints (which never block writers) every ``CHECKPOINT_INTERVAL`` s after commits, and
commits keep a far threshold only as a backstop. Checkpoints move committed pages from the
WAL into the database file; what is durable, and when, does not change.

Starting the WAL over: a writer writes from the WAL's start again only if, when its
transaction began, every frame was already checkpointed. Under steady commits a checkpoint
that runs beside the writers never gets there (they append while it copies), so the WAL
grew to the backstop and one commit in ~20,000 pages paid a whole checkpoint with the write
lock held (4-13 ms: W2's p99). So once the WAL passes ``RESTART_PAGES``, the checkpointer
catches up without the lock, then holds the writer queue's ``flock`` for one last pass over
the few frames appended meanwhile; the next writer then starts the WAL over.

Keeping the WAL file small: starting over reuses the file, it does not shrink it, so a WAL
that once grew (readers kept a checkpoint from finishing; the backstop) stayed that size.
Two things bound it. Every connection sets ``journal_size_limit`` to
``JOURNAL_SIZE_LIMIT``: the first commit after a restart cuts the file back to it. The
limit is above what one restart cycle writes (``RESTART_PAGES`` frames and the catch-up
passes' appends, ~35 MB), so steady load never pays that truncation inside a commit. And
once the WAL file has not changed for ``IDLE_TRUNCATE_AFTER`` s (its size and mtime, so
commits of every process count), the checkpointer runs one ``TRUNCATE`` checkpoint under
the writer queue's ``flock``: the WAL goes back to zero bytes while nobody writes. It waits
at most ``TRUNCATE_BUSY_MS`` for readers; a busy attempt is retried after the next idle
period.

Nothing here is module state: a ``SqliteFile`` belongs to one ``Database`` in one process
(the ``Database`` makes a fresh one after a fork, whose child inherits no thread).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from workflow_studio.storage.base import DEFAULT_LOCK_TIMEOUT, DatabaseBusy
from workflow_studio.storage.sqlite_lock import WriterLock, WriterQueue

CHECKPOINT_INTERVAL = 0.1
# Two wal-index hash blocks (a reader looks a page up in each, newest first): ~32 MB.
RESTART_PAGES = 8192
FINAL_PASS_PAGES = 256  # catch up unlocked until a pass finds at most this many new frames
CATCH_UP_PASSES = 4
BACKSTOP_PAGES = 20_000  # ~80 MB of WAL: commits checkpoint only if the thread falls behind
JOURNAL_SIZE_LIMIT = 40 * 1024 * 1024  # bytes a restarted WAL is cut back to
IDLE_TRUNCATE_AFTER = 2.0  # seconds without a WAL write before it is truncated
TRUNCATE_BUSY_MS = 20  # how long the truncating checkpoint waits for readers


class BackgroundCheckpoints:
    """A thread of this process that checkpoints the file's WAL after commits."""

    def __init__(self, path: str, writers: WriterQueue) -> None:
        self.path, self._writers = path, writers
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._starting = threading.Lock()
        # Committed since the last checkpoint. A plain attribute, not an Event: every
        # commit sets it, and an assignment costs nothing next to a lock round trip.
        self.dirty = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread unless it runs already (idempotent)."""
        with self._starting:
            if self.running:
                return
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(stop,), daemon=True,
                                            name="sqlite-checkpoint")
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it does within ``CHECKPOINT_INTERVAL`` s (not waited for:
        the caller may hold the writer lock the final pass waits on)."""
        self._stop.set()
        self._thread = None

    def _loop(self, stop: threading.Event) -> None:
        checkpointer: _Checkpointer | None = None
        idle = _IdleWal(f"{self.path}-wal")
        try:
            while not stop.wait(CHECKPOINT_INTERVAL):
                if not self.dirty:
                    if idle.due():
                        try:
                            if checkpointer is None:
                                checkpointer = _Checkpointer(self.path, self._writers)
                            checkpointer.truncate()
                        except (sqlite3.Error, DatabaseBusy):
                            pass
                        idle.tried()
                    continue
                self.dirty = False
                try:
                    if checkpointer is None:
                        checkpointer = _Checkpointer(self.path, self._writers)
                    checkpointer.run()
                except (sqlite3.Error, DatabaseBusy):
                    self.dirty = True  # try again next time; the backstop still bounds the WAL
        finally:
            if checkpointer is not None:
                checkpointer.close()


class _IdleWal:
    """Whether the WAL file has had no write, by any process, for ``IDLE_TRUNCATE_AFTER``
    s and is not empty: then it is worth truncating."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._since = time.monotonic()

    def due(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen != self._seen:
            self._seen, self._since = seen, time.monotonic()
            return False
        return st.st_size > 0 and time.monotonic() - self._since >= IDLE_TRUNCATE_AFTER

    def tried(self) -> None:
        """An attempt was made: the next one waits for another idle period."""
        self._seen = None


class _Checkpointer:
    """The checkpoint thread's own connection and writer-queue lock file."""

    def __init__(self, path: str, writers: WriterQueue) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    timeout=TRUNCATE_BUSY_MS / 1000)
        self.lock: WriterLock = writers.open()

    def _pass(self) -> tuple[bool, int]:
        """One PASSIVE checkpoint: (another checkpoint was running, frames in the WAL)."""
        busy, frames, _ = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return bool(busy), int(frames)

    def run(self) -> None:
        busy, frames = self._pass()
        if busy or frames < RESTART_PAGES or self.lock.fd is None:
            return
        for _ in range(CATCH_UP_PASSES):
            busy, now = self._pass()
            if busy or now < frames:  # another checkpointer, or the WAL already restarted
                return
            appended, frames = now - frames, now
            if appended <= FINAL_PASS_PAGES:
                break
        locked = self.lock.acquire("checkpoint.restart")  # DatabaseBusy: next time
        try:
            self._pass()  # no writer appends meanwhile: every frame ends up checkpointed
        finally:
            if locked:
                self.lock.release()

    def truncate(self) -> bool:
        """Checkpoint everything and truncate the WAL to zero bytes, holding the writer
        queue (cooperating writers wait; none was writing); True if it was truncated."""
        locked = self.lock.acquire("checkpoint.truncate")
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            if locked:
                self.lock.release()
        return not busy

    def close(self) -> None:
        self.conn.close()
        self.lock.close()


class SqliteFile:
    """One process's shared state for one database file; its connections are handed it."""

    def __init__(self, path: str, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = os.path.abspath(path)
        self.pid = os.getpid()
        self.writers = WriterQueue(self.path, lock_timeout)
        self.checkpoints = BackgroundCheckpoints(self.path, self.writers)

    def close(self) -> None:
        """Stop the checkpoint and waiter threads; this process is done with the file."""
        self.checkpoints.stop()
        self.writers.close()

"""The SQLite writer lock: an ``flock`` on ``<database>-writer.lock`` that no writer waits
for longer than its ``lock_timeout``.

Why the wait is bounded: a process that holds the lock but does not move (stopped by
SIGSTOP or a debugger, paged out, or a thread of its own holding the GIL in a C call) made
every write of every process wait for as long as it stood still. Past ``lock_timeout`` a
write now raises ``DatabaseBusy`` before it begins: nothing of it is written, a route
answers 503 ``database_busy`` and an executor backs off.

How it waits: a writer first tries ``LOCK_EX | LOCK_NB``, which costs what the blocking
``flock`` did when nobody holds the lock. When somebody does, it hands a duplicate of its
descriptor to the process's ``_Waiter`` thread, which blocks in ``flock`` (the kernel wakes
it the moment the lock is free; a poll would sleep past that, as SQLite's busy handler did)
and waits for it on an event with the timeout. A writer that gives up leaves the duplicate
with the waiter and opens a new descriptor for its next transaction: if the waiter still
gets the lock, closing that duplicate (the last descriptor of its open file description)
gives it back.

The lock file also records who holds the lock and how long each kind of transaction held
it (``lock_record.py``): the holder writes it, here, as it takes and gives back the lock.

Nothing here is module state: a ``WriterQueue`` belongs to one ``SqliteFile``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import CodeType

from workflow_studio.storage.base import DEFAULT_LOCK_TIMEOUT, DatabaseBusy
from workflow_studio.storage.lock_record import DOING_BYTES, Holder, LockFile

GAVE_UP = -1  # what _Waiter.wait returns when the timeout passed first


class _Ask:
    __slots__ = ("abandoned", "done", "failed", "fd", "granted", "since", "taken")

    def __init__(self, fd: int, taken: Callable[[], int]) -> None:
        self.fd = fd  # a duplicate: the waiter owns it and closes it
        self.taken = taken  # records the holder; returns since when (monotonic ns)
        self.since = 0
        self.done = threading.Event()
        self.granted = self.abandoned = self.failed = False


class _Waiter:
    """The thread that blocks in ``flock`` for writers that must not wait past a timeout
    (the module docstring says why). Asks are served in order: one that was abandoned
    while its ``flock`` waits keeps the next ones waiting too, and they give up in turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._asks: deque[_Ask] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False

    def wait(self, fd: int, timeout: float, taken: Callable[[], int]) -> int | None:
        """Take the lock for ``fd`` within ``timeout`` s: since when it is held (``taken()``
        ran in this thread at once, so the holder record never lags behind the lock, even
        while the caller waits for the GIL); ``GAVE_UP`` when the timeout passed first (the
        caller must then stop using ``fd``, see the module docstring); None when the lock
        file cannot be locked at all."""
        try:
            ask = _Ask(os.dup(fd), taken)
        except OSError:
            return None
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._closed = False
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="sqlite-writer-waiter")
                self._thread.start()
            self._asks.append(ask)
            self._cond.notify()
        if not ask.done.wait(timeout):
            with self._cond:
                if not ask.granted and not ask.failed:
                    ask.abandoned = True
                    return GAVE_UP
        return None if ask.failed else ask.since

    def close(self) -> None:
        """Let the thread end once it has no ask left (it may be waiting in ``flock``)."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._asks and not self._closed:
                    self._cond.wait()
                if not self._asks:
                    return
                ask = self._asks.popleft()
                if ask.abandoned:
                    os.close(ask.fd)
                    continue
            try:
                fcntl.flock(ask.fd, fcntl.LOCK_EX)
            except OSError:
                ask.failed = True
            with self._cond:
                ask.granted = not ask.abandoned and not ask.failed
                if ask.granted:
                    ask.since = ask.taken()
            os.close(ask.fd)  # abandoned: the lock goes back with the last descriptor
            ask.done.set()


class WriterQueue:
    """The lock file writers queue on, for one process: who holds it, how to wait."""

    def __init__(self, path: str, timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        """``timeout``: how long a writer waits for the lock by default (None: no limit)."""
        self.lock_path = os.path.abspath(f"{path}-writer.lock")
        self.timeout = timeout
        self.pid = os.getpid()
        # .held: (since when, kind) while this thread holds the lock; .doing: kind -> what
        # the holder record says, per thread; .deadline: see deadline(); .budget: see
        # set_budget()
        self._thread = threading.local()
        self._waiter = _Waiter()
        # id(code) -> (code, kind): a code object's own hash reads its whole body
        self._kinds: dict[int, tuple[CodeType, str]] = {}
        self._record: LockFile | None = None
        self._record_lock = threading.Lock()
        self._opened_record = False
        # (the lock's seq, time.monotonic()) when a wait of this process last gave up
        self._gave_up: tuple[int, float] | None = None

    def open(self, *, patient: bool = False) -> WriterLock:
        """A connection's own handle on the lock, waiting up to the queue's timeout (or, if
        ``patient``, as long as it takes: migrations at boot)."""
        _ = self.record  # mapped now: the hot paths read ``_record`` without a check
        return WriterLock(self, None if patient else self.timeout)

    def _open_fd(self) -> int | None:
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None

    @property
    def record(self) -> LockFile | None:
        """The lock file's shared record, mapped on first use (None if it cannot be)."""
        if not self._opened_record:
            with self._record_lock:
                if not self._opened_record:
                    try:
                        self._record = LockFile(self.lock_path)
                    except (OSError, ValueError):
                        self._record = None
                    self._opened_record = True
        return self._record

    def kind_of(self, code: CodeType) -> str:
        """The name a transaction is counted under: the function that opened it."""
        known = self._kinds.get(id(code))
        if known is not None and known[0] is code:
            return known[1]
        folder, name = os.path.split(os.path.splitext(code.co_filename)[0])
        module = os.path.basename(folder) if name == "__init__" else name
        kind = f"{module}.{code.co_name}"
        self._kinds[id(code)] = (code, kind)
        return kind

    @contextlib.contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """No lock wait of this thread lasts past ``at`` (``time.monotonic()``) meanwhile:
        e.g. a group-commit leader waits no longer than its oldest unit may."""
        local = self._thread
        previous = getattr(local, "deadline", None)
        local.deadline = at if previous is None else min(at, previous)
        try:
            yield
        finally:
            local.deadline = previous

    def set_budget(self, seconds: float | None) -> None:
        """From now on the calling thread's lock waits add up to at most ``seconds`` (None:
        each may wait its own timeout). A request sets it (``worker.errors``): one answer
        503 ``database_busy`` takes ``lock_timeout``, not one per write it attempts."""
        self._thread.budget = seconds

    def stalled(self) -> bool:
        """No write can get the lock now: the record shows a holder for longer than the
        timeout, or a wait of this process gave up within the last timeout and nobody has
        taken the lock since (a holder that keeps no record)."""
        if self.timeout is None:
            return False
        record = self.record
        if record is not None:
            since = record.held_since()
            if since is not None and time.monotonic_ns() - since >= self.timeout * 1e9:
                return True
        gave_up = self._gave_up
        if gave_up is None or time.monotonic() - gave_up[1] >= self.timeout:
            return False
        return record is None or record.seq() == gave_up[0]

    def holder(self) -> Holder | None:
        record = self.record
        return record.holder() if record is not None else None

    def _acquire(self, lock: WriterLock, kind: str) -> bool:
        fd = lock.fd
        local = self._thread
        if fd is None or getattr(local, "held", None) is not None:
            return False
        doing = self._doing(local, kind)
        patient = lock.timeout is None
        since: int | None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            since = now = time.monotonic_ns()  # _taken(), inlined: the common path
            record = self._record
            if record is not None:
                record.taken(self.pid, now, doing, patient)
        except BlockingIOError:
            since = self._wait(lock, fd, kind, functools.partial(self._taken, doing, patient))
        except OSError:
            since = None
        if since is None:
            return False
        local.held = (since, kind)
        self._gave_up = None
        return True

    def _taken(self, doing: bytes, patient: bool) -> int:
        """Record this process as the holder, now; since when (``time.monotonic_ns()``).
        Runs in the thread that took the lock (the waiter's, when it did)."""
        since = time.monotonic_ns()
        record = self._record
        if record is not None:
            record.taken(self.pid, since, doing, patient)
        return since

    def _wait(self, lock: WriterLock, fd: int, kind: str,
              taken: Callable[[], int]) -> int | None:
        """The lock is taken: wait for it; since when this thread holds it (None: fall
        back to SQLite's own locking)."""
        local = self._thread
        timeout = lock.timeout
        deadline = getattr(local, "deadline", None)
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        budget = getattr(local, "budget", None)
        if budget is not None and lock.timeout is not None:
            timeout = budget if timeout is None else min(timeout, budget)
        if timeout is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return None
            return taken()
        started = time.monotonic()
        got = self._waiter.wait(fd, timeout, taken)
        if budget is not None:
            local.budget = max(0.0, budget - (time.monotonic() - started))
        if got == GAVE_UP:
            lock.abandon()
            record = self.record
            self._gave_up = (record.seq() if record is not None else 0,
                             time.monotonic())
            holder = record.holder() if record is not None else None
            held = (f"held by pid {holder.pid} for {holder.held_for():.1f}s ({holder.doing})"
                    if holder is not None and holder.pid else "held by another writer")
            raise DatabaseBusy(f"the SQLite writer lock was {held}; {kind} gave up after "
                               f"{timeout:.1f}s")
        return got

    def _doing(self, local: threading.local, kind: str) -> bytes:
        """What the holder record says while this thread holds the lock for ``kind``
        (built before the lock is taken, cached per thread)."""
        cache: dict[str, bytes] | None = getattr(local, "doing", None)
        if cache is None:
            cache = local.doing = {}
        doing = cache.get(kind)
        if doing is None:
            text = f"{kind} in thread {threading.current_thread().name}"
            doing = cache[kind] = text.encode()[:DOING_BYTES].ljust(DOING_BYTES, b"\0")
        return doing

    def _release(self, fd: int) -> None:
        local = self._thread
        since, kind = local.held
        local.held = None
        record = self._record
        if record is not None:
            record.given_back(kind, time.monotonic_ns() - since)
        fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Let the waiter thread end (the process is done with the file). The record stays
        mapped until the last connection that may still use it is gone."""
        self._waiter.close()


class WriterLock:
    """One connection's handle on the writer queue: its own open file description of the
    lock file, so ``flock`` excludes the process's other connections too."""

    def __init__(self, queue: WriterQueue, timeout: float | None) -> None:
        self.queue = queue
        self.timeout = timeout  # None: wait as long as it takes (migrations)
        self.fd = queue._open_fd()

    def acquire(self, kind: str) -> bool:
        """Take the lock for a transaction of ``kind`` (``WriterQueue.kind_of``): True; False
        (not taken) when this thread already holds it through another connection, or when
        the lock file cannot be locked (SQLite's busy timeout then orders the writers).
        Raises ``DatabaseBusy`` past the timeout."""
        return self.queue._acquire(self, kind)

    def release(self) -> None:
        """Give back what ``acquire`` took."""
        if self.fd is not None:
            self.queue._release(self.fd)

    def abandon(self) -> None:
        """A wait gave up: the waiter may still lock the old description, so use a new one."""
        old, self.fd = self.fd, self.queue._open_fd()
        if old is not None:
            with contextlib.suppress(OSError):
                os.close(old)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

"""One process's engine machinery, in one object: the ``Runtime``.

Whoever hosts the engine creates one per database it serves in this process: the worker's
app factory (the executor is started after gunicorn's fork, in ``post_worker_init``), the
local world, or a test. Everything that used to be a module-level global lives here, so two
apps in one process (tests) do not share permit pools, watchers or executors, and each can
be exercised without gunicorn:

- ``executor``: the slots that claim and process queue messages (None until started);
- ``watchers``: long-polls waiting on a run, woken when this process changes it;
- ``committer``: group commit of this process's write transactions (``GroupCommit``);
- ``wait_permits`` / ``direct_permits``: how many request threads may idle in a long-poll
  or execute the run they just triggered, at once (all but one each);
- ``hook_url``: turns a hook token into its signed public URL (``create_webhook()``);
- ``redactor``: what recorded errors go through, since API callers read them: bounded,
  and without the worker's secret values (``config.environment.Redactor``);
- ``max_payload_bytes``: the largest payload (run input, step input or output, stream
  chunk, hook payload) this process stores, as encoded JSON;
- ``clock``: wall-clock milliseconds, for features that are tested with a fake clock;
- ``purges``: periodic clean-ups the host adds (``add_purge``; the worker's retention pass),
  run by the executor's heartbeat beside its own purge of expired idempotency keys.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.payloads import DEFAULT_MAX_BYTES
from workflow_studio.config.environment import Redactor
from workflow_studio.engine import runs as starts
from workflow_studio.storage import Connection, Database, DatabaseUnavailable, Row
from workflow_studio.storage.group_commit import GroupCommit
from workflow_studio.storage.world import TERMINAL_RUN_STATUSES, runs

if TYPE_CHECKING:
    from workflow_studio.engine.executor import Executor

DIRECT_PERMIT_WAIT = 0.02  # seconds a waiting trigger waits to execute its run itself
log = logging.getLogger("workflow_studio.engine")


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return now_ms()


class RunWatchers:
    """Long-polls on runs in this process: ``watch(run_id)`` registers an event that
    ``changed(run_id)`` (called by the runner after each message it processes) sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[threading.Event]] = {}

    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[threading.Event]:
        """An event set whenever this process changes ``run_id``; register before reading."""
        event = threading.Event()
        with self._lock:
            self._events.setdefault(run_id, []).append(event)
        try:
            yield event
        finally:
            with self._lock:
                waiting = self._events.get(run_id, [])
                if event in waiting:
                    waiting.remove(event)
                if not waiting:
                    self._events.pop(run_id, None)

    def changed(self, run_id: str) -> None:
        if run_id not in self._events:  # the common case, without the lock
            return
        with self._lock:
            for event in self._events.get(run_id, ()):
                event.set()

    def await_run(self, run_id: str, read: Callable[[], Row | None], row: Row,
                  wait: float, stalled: Callable[[], bool] | None = None) -> Row:
        """Re-read the run until it ends or ``wait`` seconds pass; return the last row.

        A change made in this process wakes us at once; one made elsewhere is seen within
        1-20 ms (the re-read interval grows while nothing happens). ``stalled()`` true: no
        run can move now (the database's writer lock is stuck), so answer at once.
        """
        if wait <= 0 or row["status"] in TERMINAL_RUN_STATUSES:
            return row
        deadline = time.monotonic() + wait
        pause = 0.001
        with self.watch(run_id) as changed:
            row = read() or row  # registered first: a change from now on sets ``changed``
            while row["status"] not in TERMINAL_RUN_STATUSES:
                left = deadline - time.monotonic()
                if left <= 0 or (stalled is not None and stalled()):
                    break
                changed.wait(min(pause, left))
                pause = min(0.02, pause * 2)
                changed.clear()
                row = read() or row
        return row


class Permits:
    """``capacity`` request threads that may be held at once for one purpose; ``in_use``
    says how many are (for tests, health and metrics)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._semaphore = threading.BoundedSemaphore(capacity)
        self._lock = threading.Lock()
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a permit: at once (``timeout`` None or 0), or within ``timeout`` s."""
        taken = self._semaphore.acquire(timeout=timeout) if timeout \
            else self._semaphore.acquire(blocking=False)
        if taken:
            with self._lock:
                self._in_use += 1
        return taken

    def release(self) -> None:
        with self._lock:
            self._in_use -= 1
        self._semaphore.release()


class Runtime:
    """The engine's per-process state for one database (see the module docstring)."""

    def __init__(self, db: Database, *, threads: int = 4, clock: Clock | None = None,
                 hook_url: Callable[[str], str] | None = None,
                 max_payload_bytes: int = DEFAULT_MAX_BYTES,
                 redactor: Redactor | None = None) -> None:
        self.db = db
        self.redactor = redactor or Redactor()
        self.clock: Clock = clock or SystemClock()
        self.hook_url = hook_url
        self.max_payload_bytes = max_payload_bytes
        self.watchers = RunWatchers()
        self.committer = GroupCommit(db)
        # A request thread held by a long-poll, or by executing the run it triggered: all
        # but one each, so neither kind alone can keep health checks and short requests
        # from a thread. Together they can hold every thread, but only for a while.
        self.wait_permits = Permits(max(1, threads - 1))
        self.direct_permits = Permits(max(1, threads - 1))
        self.executor: Executor | None = None
        self.purges: list[Callable[[Connection, int], object]] = []
        self._lock = threading.Lock()

    # -- periodic clean-ups --------------------------------------------------------------
    def add_purge(self, purge: Callable[[Connection, int], object]) -> None:
        """Have the heartbeat call ``purge(connection, now_ms)`` every ``PURGE_INTERVAL``
        (the callable decides whether this process does the work this time)."""
        self.purges.append(purge)

    def purge(self, conn: Connection) -> None:
        """Run every added purge with this runtime's clock. One that fails is logged and
        does not keep the others from running (an unreachable database is raised: the
        heartbeat backs off)."""
        now = self.clock.now_ms()
        for purge in list(self.purges):
            try:
                purge(conn, now)
            except DatabaseUnavailable:
                raise
            except Exception:
                log.exception("purge %r failed", purge)

    # -- the executor ------------------------------------------------------------------
    def install(self, executor: Executor | None) -> None:
        """Make ``executor`` this runtime's executor (woken after triggers and resumes)."""
        with self._lock:
            self.executor = executor

    def stop(self, timeout: float) -> None:
        """Stop the executor (running steps get ``timeout`` s), if one was started."""
        with self._lock:
            executor, self.executor = self.executor, None
        if executor is not None:
            executor.stop(timeout)

    def wake(self, count: int = 1) -> None:
        """Work became claimable: start idle slots (here, or ring the other processes)."""
        executor = self.executor
        if executor is not None:
            executor.wake(count)

    def run_changed(self, run_id: str) -> None:
        self.watchers.changed(run_id)

    # -- starting runs -----------------------------------------------------------------
    def start(self, conn: Connection, request: starts.StartRequest, *, wait: float = 0.0,
              on_created: Callable[[Connection, Row], None] | None = None
              ) -> starts.Started:
        """Start a run through ``engine.runs``, with this process's fast paths.

        The write goes through group commit (one commit for many threads' starts). A
        caller that will wait ``wait`` s for the run executes it in its own thread when a
        slot is free (``reserve_direct``): no claim transaction, no hand-off to a slot
        thread and back; ``Started.wait_left`` is then what is left of its wait. Any
        other new run wakes an executor slot. Raises ``StartRefused``.
        """
        prepared = starts.prepare(conn, request, self.max_payload_bytes)
        direct = self.reserve_direct(wait) if prepared.direct_eligible else None
        owner = direct.owner() if direct is not None else None
        try:
            started = self.committer.run(
                lambda c: starts.write(c, prepared, owner=owner, on_created=on_created))
        except BaseException:
            self.release_direct(direct)
            raise
        if started.message is None:
            self.release_direct(direct)
            if started.replayed is None:
                self.wake()
            return started
        assert direct is not None
        started.run, started.wait_left = self.execute_direct(
            direct, started.message, started.run, wait)
        return started

    # -- request threads ---------------------------------------------------------------
    def await_run(self, run_id: str, read: Callable[[], Row | None], row: Row,
                  wait: float) -> Row:
        """Long-poll the run for up to ``wait`` s, if a wait permit is free; else answer
        with ``row`` at once (the client asks again). A write of this process that gave up
        on the writer lock ends the wait early: the client is not held past
        ``lock_timeout`` by a lock holder that stopped moving."""
        if wait <= 0 or row["status"] in TERMINAL_RUN_STATUSES:
            return row
        if not self.wait_permits.acquire():
            return row
        try:
            return self.watchers.await_run(run_id, read, row, wait, self.db.writer_stalled)
        finally:
            self.wait_permits.release()

    def reserve_direct(self, wait: float) -> Executor | None:
        """The executor, holding a slot's permit and a direct permit for this thread, when
        a trigger that waits ``wait`` s should execute its new run itself; None otherwise.

        The thread is working, not idle, so this takes no long-poll permit; the run yields
        at the first step boundary after the wait. When every direct permit is taken, the
        thread waits up to ``DIRECT_PERMIT_WAIT`` for one before its run goes through the
        queue: the runs holding them are usually a few milliseconds from done, and the
        queue costs a claim transaction, a replay-log load and wake-ups for idle slots."""
        executor = self.executor
        if wait <= 0 or executor is None or not self.direct_permits.acquire(
                min(wait, DIRECT_PERMIT_WAIT)):
            return None
        if not executor.reserve():
            self.direct_permits.release()
            return None
        return executor

    def release_direct(self, executor: Executor | None) -> None:
        """Give back what ``reserve_direct`` took, when nothing was executed."""
        if executor is not None:
            executor.release_reservation()
            self.direct_permits.release()

    def execute_direct(self, executor: Executor, message: Row, run: Row,
                       wait: float) -> tuple[Row, float]:
        """Execute a run created already claimed by ``executor`` in this thread until it
        ends or ``wait`` s pass; returns the run's latest row and the wait left."""
        deadline = time.monotonic() + wait
        try:
            ended = executor.execute_claimed(message, run, deadline)  # releases the slot
        finally:
            self.direct_permits.release()
        row = ended or runs.get(self.db.connection(), run["id"]) or run
        return row, max(0.0, deadline - time.monotonic())

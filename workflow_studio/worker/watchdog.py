"""The writer-lock watchdog: a thread in each worker process that finds a sibling holding
the SQLite writer lock for longer than ``worker.stuck_timeout`` and has it replaced.

A process that is stopped (SIGSTOP, a debugger), paged out, or starved by a thread of its
own that holds the GIL cannot report itself, so another process reads the lock file's
holder record (``storage.lock_record``: pid, since when, doing what). One sibling looks at a
time (whoever takes ``<database>-writer.watchdog`` without waiting). It checks that the same
acquisition is still on (the record's counter) and that the lock is really held (it cannot
take it: a holder killed with -9 leaves a stale record behind, and its lock is free), logs
the pid, for how long and what it was doing, counts it in the record, has it print every
thread's stack (``STACK_SIGNAL``, which ``faulthandler`` handles without the GIL; a stopped
process prints nothing) and kills it. gunicorn's master then releases its claims
(``child_exit``) and starts a replacement.

gunicorn's worker ``timeout`` is the same setting (``gunicorn_conf``): a process whose main
loop stops heartbeating (stopped, or a step holding the GIL) is replaced at the same bound
even when it holds no lock. The watchdog adds the holder whose *thread* is stuck while the
process still heartbeats, and says what it was doing. A holder that is not a sibling (a CLI
command, another server on the same file) is only logged; a patient holder (migrations) is
never stuck.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

from workflow_studio.storage.sqlite_lock import WriterQueue

STACK_SIGNAL = signal.SIGRTMIN + 3  # faulthandler prints the stacks (gunicorn_conf)
STACK_GRACE = 0.2  # seconds the holder gets to print them before it is killed
log = logging.getLogger("workflow_studio.worker")


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class Watchdog:
    """Look at the writer lock's holder every ``interval`` s (see the module docstring)."""

    def __init__(self, writers: WriterQueue, stuck_after: float,
                 interval: float | None = None) -> None:
        self.writers, self.stuck_after = writers, stuck_after
        self.interval = interval if interval is not None else min(0.5, stuck_after / 4)
        self._stop = threading.Event()
        self._reported = -1  # the acquisition last logged (a non-sibling is logged once)
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="writer-lock-watchdog")

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("writer-lock watchdog failed")

    def check(self) -> int | None:
        """One look; the pid of the holder it killed, if it did."""
        holder = self.writers.holder()
        if (holder is None or not holder.pid or holder.pid == os.getpid() or holder.patient
                or holder.held_for() < self.stuck_after or holder.seq == self._reported):
            return None
        with self._turn() as mine:
            if not mine or not self._still_held(holder.seq):
                return None
            self._reported = holder.seq
            sibling = parent_of(holder.pid) == os.getppid()
            log.error("the SQLite writer lock has been held for %.1fs by %s %d, doing %s%s",
                      holder.held_for(), "worker process" if sibling else "process",
                      holder.pid, holder.doing or "(unknown)",
                      "; replacing it" if sibling else "; it is not this server's, so it "
                      "stays (every write meanwhile answers 503 database_busy)")
            if not sibling:
                return None
            record = self.writers.record
            if record is not None:
                record.count_stuck()
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder.pid, STACK_SIGNAL)
                time.sleep(STACK_GRACE)
                os.kill(holder.pid, signal.SIGKILL)
            return holder.pid

    @contextlib.contextmanager
    def _turn(self) -> Iterator[bool]:
        """Whether this process is the one sibling looking now (never waits)."""
        try:
            fd = os.open(f"{self.writers.lock_path[:-len('.lock')]}.watchdog",
                         os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _still_held(self, seq: int) -> bool:
        """The same acquisition is on, and the lock is really held (not a stale record)."""
        again = self.writers.holder()
        if again is None or again.seq != seq or not again.pid:
            return False
        lock = self.writers.open()
        try:
            if lock.fd is None:
                return False
            try:
                fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            except OSError:
                return False
            fcntl.flock(lock.fd, fcntl.LOCK_UN)  # free: its holder died, the record is stale
            return False
        finally:
            lock.close()

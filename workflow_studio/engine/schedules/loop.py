"""The firing loop: a thread in every worker process that fires due ticks.

Every process runs one (no leader): it sleeps until the earliest ``next_fire_at`` of any
unpaused schedule (read from the database, so a schedule made on another node counts),
but never longer than ``poll`` seconds, fires what is due (``firing.fire_due``), and
starts over. All processes wake for the same tick; one claims it, the others find it
taken. A change made in this process (``poke``) wakes the loop at once. While the
database is unreachable the loop backs off and fires the missed ticks by the catch-up
policy when it is back.

The loop reads time from the runtime's clock, so tests drive ``run_once(now)`` with a fake
clock instead of starting the thread. It also registers the ledger's retention pass with
the runtime's purges (one process at a time, through ``retention.claim_slot``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from workflow_studio.engine.schedules import firing
from workflow_studio.storage import Connection, DatabaseUnavailable, retention
from workflow_studio.storage import schedules as repo

if TYPE_CHECKING:
    from workflow_studio.engine.runtime import Runtime

log = logging.getLogger("workflow_studio.schedules")
POLL_SECONDS = 1.0
BACKOFF_MAX = 5.0
MIN_PAUSE = 0.005
PURGE_SLOT = "schedule_ticks"
PURGE_BATCH = 1000
DAY_MS = 86_400_000


class Scheduler:
    """One process's firing loop for ``runtime``'s database."""

    def __init__(self, runtime: Runtime, *, poll: float = POLL_SECONDS,
                 history_days: int = 30, name: str = "scheduler") -> None:
        self.runtime, self.poll, self.history_days, self.name = (
            runtime, poll, history_days, name)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.fired = 0  # runs this process's loop started (tests, health)

    def start(self) -> Scheduler:
        if self._thread is None:
            self.runtime.add_purge(self.purge)
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def poke(self) -> None:
        """A schedule changed in this process: look again now."""
        self._wake.set()

    def run_once(self, now: int | None = None) -> int:
        """Fire what is due at ``now`` (default: the runtime's clock); runs started."""
        started = firing.fire_due(self.runtime, self.runtime.clock.now_ms()
                                  if now is None else now)
        self.fired += started
        return started

    def _pause(self) -> float:
        """Seconds until the earliest due schedule, at most ``poll``."""
        earliest = repo.earliest_fire(self.runtime.db.connection())
        if earliest is None:
            return self.poll
        return max(0.0, min(self.poll, (earliest - self.runtime.clock.now_ms()) / 1000))

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                self.run_once()
                pause, backoff = self._pause(), 0.1
            except DatabaseUnavailable as exc:
                log.warning("scheduler: database unavailable (%s); retrying", exc)
                pause, backoff = backoff, min(BACKOFF_MAX, backoff * 2)
            except Exception:
                log.exception("scheduler pass failed")
                pause = self.poll
            # At least a moment: a tick another process is firing still reads as due
            # until it commits, and spinning on it would only slow that commit down.
            if self._wake.wait(max(pause, MIN_PAUSE)):
                self._wake.clear()

    def purge(self, conn: Connection, now: int) -> int | None:
        """Delete ledger rows older than ``history_days`` (0: keep them), in one process
        at a time; the runs they point at are kept."""
        if self.history_days <= 0 or not retention.claim_slot(
                conn, PURGE_SLOT, now, retention.INTERVAL_MS):
            return None
        cutoff = now - self.history_days * DAY_MS
        deleted = 0
        for _ in range(retention.MAX_BATCHES):
            count = repo.purge_ticks(conn, cutoff, PURGE_BATCH)
            deleted += count
            if count < PURGE_BATCH:
                break
        return deleted

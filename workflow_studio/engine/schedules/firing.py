"""Firing ticks: one transaction per schedule that claims its next tick, records what became
of each due tick and starts their runs (through ``engine.runs``, like every other trigger).

**Exactly once per tick.** A tick is decided by the ledger row inserted for it
(``INSERT ... ON CONFLICT DO NOTHING`` on (schedule, tick)), and its run carries
(schedule_id, scheduled_at = tick), unique too; both commit with the schedule's new
``next_tick_at``, or not at all. Any number of processes and nodes may race for a tick:
one transaction wins, the others find the row moved (``claim``) or the tick recorded and
move on. No leader is elected; the claim only spares the losers the work.

The overlap policy is applied here, against the schedule's live (pending or running) runs:
``skip`` records ``skipped_overlap``; ``buffer_one`` keeps one tick (more are skipped),
``buffer_all`` keeps up to ``MAX_BUFFER``; a buffered tick fires once no run is live
(``promote_buffers``, or the schedule's next firing); ``cancel_other`` cancels the live runs
and fires; ``allow_all`` fires. ``remainingActions`` counts ticks fired or buffered by the
schedule itself (a trigger or a backfill does not use one up).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from workflow_studio.compute import schedules as vocabulary
from workflow_studio.compute.ids import new_id
from workflow_studio.engine import runs as starts
from workflow_studio.engine import service
from workflow_studio.engine.schedules.policy import FIRE, Entry, plan
from workflow_studio.engine.schedules.spec import Spec
from workflow_studio.storage import Connection, Row
from workflow_studio.storage import schedules as repo
from workflow_studio.storage.world import WorldConflict

if TYPE_CHECKING:
    from workflow_studio.engine.runtime import Runtime

log = logging.getLogger("workflow_studio.schedules")
MAX_BUFFER = 1000  # buffer_all: ticks kept waiting at most; more are skipped_overlap


@functools.lru_cache(maxsize=1024)
def spec_of(spec_json: str) -> Spec:
    """The ``Spec`` of a stored definition (a pure function of its JSON, so memoised)."""
    given = json.loads(spec_json)
    return Spec.build(cron=given.get("cron") or (), interval_seconds=given.get("intervalSeconds"),
                      phase_seconds=given.get("phaseSeconds"), timezone=given.get("timezone"),
                      start_at=given.get("startAt"), end_at=given.get("endAt"),
                      jitter_seconds=given.get("jitterSeconds"))


@dataclasses.dataclass
class Fired:
    """What one transaction did: the runs it started and cancelled (to wake and notify)."""

    started: list[str] = dataclasses.field(default_factory=list)
    cancelled: list[str] = dataclasses.field(default_factory=list)
    outcomes: list[tuple[int | None, str, str | None]] = dataclasses.field(
        default_factory=list)  # (tick, outcome, run id)

    def notify(self, runtime: Runtime) -> None:
        """After the commit: executors pick the runs up, long-polls see the cancels."""
        for run_id in self.cancelled:
            runtime.run_changed(run_id)
        if self.started:
            runtime.wake(len(self.started))


class Firing:
    """One transaction's work on one schedule row, locked by the caller."""

    def __init__(self, runtime: Runtime, conn: Connection, row: Row, now: int,
                 source: str = "tick") -> None:
        self.runtime, self.conn, self.row, self.now, self.source = (
            runtime, conn, row, now, source)
        self.id: str = row["id"]
        self.spec = spec_of(row["spec_json"])
        self.live = repo.live_runs(conn, self.id)
        self.buffered: int = row["buffered"]
        self.remaining: int | None = row["remaining_actions"] if source == "tick" else None
        self.fired = Fired()

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def _used(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    def start(self, tick: int | None, run_id: str) -> Row | None:
        """Start the run of ``tick`` (None: a trigger), with id ``run_id``; None if the
        engine refused it (the tick is then recorded ``start_failed`` with the reason)."""
        row = self.row
        request = starts.StartRequest(
            row["workflow_name"], row["args"], row["kwargs"], row["deployment_id"],
            "schedule", run_id=run_id, schedule_id=self.id, scheduled_at=tick)
        try:
            started = starts.start_run(self.conn, request,
                                       max_payload_bytes=self.runtime.max_payload_bytes)
        except starts.StartRefused as exc:
            reason = f"{exc.code.value}: {exc.message}"
            if tick is not None:
                repo.mark_tick(self.conn, self.id, tick, vocabulary.START_FAILED, reason)
            self.fired.outcomes.append((tick, vocabulary.START_FAILED, None))
            log.warning("schedule %s (%s): tick %s not started: %s", row["name"], self.id,
                        tick, reason)
            return None
        self.live.append(run_id)
        self.fired.started.append(run_id)
        self.fired.outcomes.append((tick, vocabulary.FIRED, run_id))
        return started.run

    def _record(self, tick: int, outcome: str, run_id: str | None = None,
                reason: str | None = None) -> bool:
        """Decide ``tick`` (False: it was decided before; a backfill may fire a tick that
        was recorded as skipped)."""
        if repo.record_tick(self.conn, self.id, tick, outcome, at=self.now,
                            source=self.source, run_id=run_id, reason=reason):
            return True
        if self.source != "backfill":
            return False
        if repo.split_range(self.conn, self.id, tick, self.spec.next_tick(tick)):
            return repo.record_tick(self.conn, self.id, tick, outcome, at=self.now,
                                    source=self.source, run_id=run_id, reason=reason)
        return repo.refire_tick(self.conn, self.id, tick, outcome, run_id, self.source,
                                self.now)

    def skip(self, entry: Entry) -> None:
        repo.record_tick(self.conn, self.id, entry.tick, entry.outcome, at=self.now,
                         source=self.source, until_at=entry.until, count=entry.count)
        self.fired.outcomes.append((entry.tick, entry.outcome, None))

    def promote(self) -> None:
        """Fire the oldest buffered tick if no run is live."""
        if self.live or self.buffered <= 0:
            return
        tick = repo.oldest_buffered(self.conn, self.id)
        if tick is None:
            self.buffered = 0
            return
        run_id = new_id("wrun")
        if repo.promote(self.conn, self.id, tick, run_id, self.now):
            self.buffered -= 1
            self.start(tick, run_id)

    def cancel_live(self) -> None:
        for run_id in self.live:
            try:
                service.cancel(self.conn, run_id)
            except (WorldConflict, LookupError):
                continue  # it ended meanwhile
            self.fired.cancelled.append(run_id)
        self.live = []

    def decide(self, tick: int, overlap: str) -> str:
        """Apply ``overlap`` to a tick chosen to fire; returns its outcome."""
        self.promote()
        if self.live and overlap in ("buffer_one", "buffer_all"):
            room = 1 if overlap == "buffer_one" else MAX_BUFFER
            if self.buffered < room:
                if not self._record(tick, vocabulary.BUFFERED):
                    return "decided"
                self.buffered += 1
                self._used()
                self.fired.outcomes.append((tick, vocabulary.BUFFERED, None))
                return vocabulary.BUFFERED
            overlap = "skip"
        if self.live and overlap == "skip":
            if self._record(tick, vocabulary.SKIPPED_OVERLAP,
                            reason=f"run {self.live[-1]} was still live"):
                self.fired.outcomes.append((tick, vocabulary.SKIPPED_OVERLAP, None))
            return vocabulary.SKIPPED_OVERLAP
        run_id = new_id("wrun")
        if not self._record(tick, vocabulary.FIRED, run_id=run_id):
            return "decided"
        if self.live and overlap == "cancel_other":
            self.cancel_live()
        self._used()
        return vocabulary.FIRED if self.start(tick, run_id) is not None \
            else vocabulary.START_FAILED

    def apply(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            if self.exhausted:
                return
            if entry.outcome == FIRE:
                self.decide(entry.tick, self.row["overlap"])
            else:
                self.skip(entry)

    def save(self, next_tick: int | None, spec: Spec) -> Row | None:
        """The schedule's new position (and its counters), in this transaction."""
        if self.exhausted:
            next_tick = None
        return repo.update(self.conn, self.id, {
            "next_tick_at": next_tick,
            "next_fire_at": None if next_tick is None else spec.fire_at(self.id, next_tick),
            "remaining_actions": self.row["remaining_actions"] if self.remaining is None
            else self.remaining,
            "buffered": self.buffered, "updated_at": self.now})


def fire(runtime: Runtime, conn: Connection, row: Row, now: int) -> Fired | None:
    """Fire ``row``'s due ticks if this process claims them (None: another one did)."""
    spec = spec_of(row["spec_json"])
    made = plan(spec, row["id"], row["next_tick_at"], now, catchup=row["catchup"],
                window_ms=row["catchup_window_seconds"] * 1000, max_catchup=row["max_catchup"])
    with conn.transaction():
        locked = repo.claim(conn, row["id"], row["next_tick_at"])
        if locked is None or locked["updated_at"] != row["updated_at"]:
            return None  # another process fired it, or the definition changed meanwhile
        firing = Firing(runtime, conn, locked, now)
        firing.apply(made.entries)
        firing.save(made.next_tick, spec)
    return firing.fired


def fire_due(runtime: Runtime, now: int) -> int:
    """Fire every due schedule this process claims, then the buffered ticks whose runs
    ended; returns how many runs were started."""
    conn = runtime.db.connection()
    started = 0
    for row in repo.due(conn, now):
        fired = fire(runtime, conn, row, now)
        if fired is not None:
            fired.notify(runtime)
            started += len(fired.started)
    return started + promote_buffers(runtime, now)


def promote_buffers(runtime: Runtime, now: int) -> int:
    """Fire the oldest buffered tick of each schedule whose live runs have all ended."""
    conn = runtime.db.connection()
    started = 0
    for schedule_id in repo.with_buffer(conn):
        if repo.live_runs(conn, schedule_id):
            continue  # the common case, answered without a write transaction
        with conn.transaction():
            locked = repo.claim_buffered(conn, schedule_id)
            if locked is None:
                continue
            firing = Firing(runtime, conn, locked, now)
            firing.promote()
            repo.update(conn, schedule_id, {"buffered": firing.buffered})
        firing.fired.notify(runtime)
        started += len(firing.fired.started)
    return started


def trigger(runtime: Runtime, conn: Connection, schedule_id: str, overlap: str,
            now: int) -> tuple[str, Row | None, Fired]:
    """Fire now, outside the ticks (its run has ``scheduledAt`` null and uses no
    ``remainingActions``): (outcome, the run or None, what to notify)."""
    with conn.transaction():
        locked = repo.lock(conn, schedule_id)
        if locked is None:
            raise LookupError(schedule_id)
        firing = Firing(runtime, conn, locked, now, source="trigger")
        if firing.live and overlap == "skip":
            return vocabulary.SKIPPED_OVERLAP, None, firing.fired
        if overlap == "cancel_other":
            firing.cancel_live()
        run = firing.start(None, new_id("wrun"))
    return (vocabulary.FIRED if run else vocabulary.START_FAILED), run, firing.fired


def backfill(runtime: Runtime, conn: Connection, schedule_id: str, ticks: list[int],
             overlap: str, now: int) -> tuple[list[dict[str, Any]], Fired]:
    """Fire ``ticks`` (past ticks of the spec) as if each were due now, in order, under
    ``overlap``; a tick that fired or is buffered already is left alone."""
    report: list[dict[str, Any]] = []
    with conn.transaction():
        locked = repo.lock(conn, schedule_id)
        if locked is None:
            raise LookupError(schedule_id)
        firing = Firing(runtime, conn, locked, now, source="backfill")
        for tick in ticks:
            before = len(firing.fired.outcomes)
            outcome = firing.decide(tick, overlap)
            run_id = next((r for t, o, r in firing.fired.outcomes[before:] if t == tick), None)
            report.append({"tick": tick, "outcome": "already_decided"
                           if outcome == "decided" else outcome, "runId": run_id})
        repo.update(conn, schedule_id, {"buffered": firing.buffered, "updated_at": now})
    return report, firing.fired

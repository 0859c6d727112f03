"""Which due ticks fire: the catch-up policy, as a pure function of the spec and the clock.

``plan`` looks at every tick from the schedule's next one up to now and sorts them:

- older than ``catchupWindowSeconds``: ``missed_window`` (one ledger row for the run of them);
- missed (more than ``GRACE_MS`` plus the spec's jitter late) but inside the window: the
  catch-up policy picks which fire: ``latest`` the most recent one, ``all`` the most
  recent ``maxCatchup``, ``none`` none; the others are ``missed_catchup`` (one row);
- on time: every one fires, at most ``MAX_ON_TIME`` per pass (the rest in the next pass),
  in tick order, up to the first whose jittered time has not come yet.

Whether a tick chosen to fire starts a run is the overlap policy's call, made against the
schedule's live runs inside the firing transaction (``firing``). Nothing here reads the
database or the wall clock, so every case is tested with plain numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
from types import MappingProxyType

from workflow_studio.compute import schedules as vocabulary
from workflow_studio.engine.schedules.spec import Spec

GRACE_MS = 10_000     # a tick found within 10 s of its (jittered) time is on time
MAX_ON_TIME = 1000    # ticks fired per pass; a backlog beyond goes on in the next pass
COUNT_CAP = 10_000    # ticks counted in one skipped range; beyond, the count is None
FIRE = "fire"
CATCHUP_KEEP = MappingProxyType({"latest": 1, "none": 0})  # "all": maxCatchup


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tick to fire (``outcome`` ``FIRE``), or a run of skipped ticks
    ``[tick, until]`` (``count`` of them; None: more than ``COUNT_CAP``)."""

    tick: int
    outcome: str
    until: int | None = None
    count: int | None = 1


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to do with the ticks from ``start`` on; ``next_tick`` is where the schedule
    stands afterwards (None: no tick is left)."""

    start: int
    entries: tuple[Entry, ...]
    next_tick: int | None


def _skipped(spec: Spec, first: int, before: int, outcome: str) -> Entry | None:
    """One entry for the ticks in ``[first, before)``, if there are any."""
    last = next(spec.before(before), None)
    if last is None or last < first:
        return None
    return Entry(first, outcome, last, spec.count(first, last, COUNT_CAP))


def plan(spec: Spec, schedule_id: str, next_tick: int, now: int, *, catchup: str,
         window_ms: int, max_catchup: int) -> Plan:
    """Sort the ticks from ``next_tick`` to ``now`` (see the module docstring)."""
    entries: list[Entry] = []
    tick: int | None = next_tick
    window_start = now - window_ms
    missed_before = now - GRACE_MS - spec.jitter_ms
    if next_tick < window_start:
        entry = _skipped(spec, next_tick, window_start, vocabulary.MISSED_WINDOW)
        if entry is not None:
            entries.append(entry)
        tick = spec.next_tick(window_start - 1)
    if tick is not None and tick < missed_before:
        keep = CATCHUP_KEEP.get(catchup, max_catchup)
        first: int = tick
        chosen = sorted(itertools.islice(
            itertools.takewhile(lambda t: t >= first, spec.before(missed_before)), keep))
        entry = _skipped(spec, first, chosen[0] if chosen else missed_before,
                         vocabulary.MISSED_CATCHUP)
        if entry is not None:
            entries.append(entry)
        entries += [Entry(t, FIRE) for t in chosen]
        tick = spec.next_tick(missed_before - 1)
    fired = 0
    while (tick is not None and tick <= now and fired < MAX_ON_TIME
           and spec.fire_at(schedule_id, tick) <= now):
        entries.append(Entry(tick, FIRE))
        fired += 1
        tick = spec.next_tick(tick)
    return Plan(next_tick, tuple(entries), tick)

"""When a schedule's ticks fall: its spec (crons and/or an interval, a zone, bounds, jitter)
and the DST policy, in milliseconds since the epoch.

**DST policy.** Cron fields are wall-clock times in the schedule's zone:

- a wall time that does not exist (the hour skipped when clocks go forward) fires at the
  first instant after the gap (02:30 on the spring-forward night in Berlin fires at 03:00
  CEST); several ticks inside one gap are one tick;
- a wall time that happens twice (the hour repeated when clocks go back) fires once, at its
  first occurrence.

``intervalSeconds`` ticks are instants (``phaseSeconds + k * intervalSeconds`` after the
epoch): DST never moves them. Ticks are whole seconds; a spec's ticks are the union of its
sources', each instant once, inside ``[startAt, endAt]``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from workflow_studio.compute import schedules as vocabulary
from workflow_studio.engine.schedules.cron import Cron, CronError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = 0                                        # 1970-01-01
MAX_MS = int(datetime(9000, 1, 1, tzinfo=UTC).timestamp() * 1000)


class SpecError(ValueError):
    """A spec field is invalid; ``field`` names it as the API does (``cron[1]``,
    ``timezone``), ``position`` the character of a cron expression (0: none)."""

    def __init__(self, field: str, message: str, position: int = 0) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.position = field, message, position


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.lru_cache(maxsize=256)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name`` (``SpecError`` if the tz database has no such zone)."""
    if name != "UTC" and name not in _zone_names():
        raise SpecError("timezone", f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise SpecError("timezone", f"{name!r} is not an IANA time zone") from None


def to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def resolve(wall: datetime, tz: zoneinfo.ZoneInfo) -> int:
    """The instant (ms) a naive wall time in ``tz`` fires at, by the DST policy."""
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return to_ms(instant)  # it exists; fold=0 is the first of two occurrences
    # In a gap: fold=1 reads it with the offset after the transition (an instant before
    # the transition), fold=0 with the one before (an instant after it). The transition,
    # the first instant after the gap, lies between: find it to the second.
    low = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    after = datetime.fromtimestamp(high, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high * 1000


def _walls(ticks: Iterator[datetime], tz: zoneinfo.ZoneInfo, beyond: int,
           forward: bool) -> Iterator[int]:
    """The instants of naive wall-time ticks, strictly monotonic and strictly beyond
    ``beyond`` (after it going forward, before it going back): a gap's ticks collapse into
    one, and the repeated hour's second pass yields nothing."""
    last = beyond
    for wall in ticks:
        try:
            ms = resolve(wall, tz)
        except (OverflowError, ValueError):
            return
        if (ms > last) if forward else (ms < last):
            last = ms
            yield ms


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated spec; see the module docstring for what its ticks are."""

    crons: tuple[Cron, ...] = ()
    interval_ms: int | None = None
    phase_ms: int = 0
    timezone: str = "UTC"
    start_at: int | None = None
    end_at: int | None = None
    jitter_ms: int = 0

    @classmethod
    def build(cls, *, cron: Iterable[str] = (), interval_seconds: int | None = None,
              phase_seconds: int | None = None, timezone: str | None = None,
              start_at: int | None = None, end_at: int | None = None,
              jitter_seconds: int | None = None) -> Spec:
        """Check every field (``SpecError`` naming the first bad one) and build the spec."""
        crons = []
        texts = list(cron)
        if len(texts) > vocabulary.MAX_CRONS:
            raise SpecError("cron", f"at most {vocabulary.MAX_CRONS} expressions")
        for index, text in enumerate(texts):
            try:
                crons.append(Cron.parse(text))
            except CronError as exc:
                raise SpecError(f"cron[{index}]", exc.message, exc.position) from None
        if interval_seconds is not None and not (
                1 <= interval_seconds <= vocabulary.MAX_INTERVAL_SECONDS):
            raise SpecError("intervalSeconds", "must be from 1 to "
                            f"{vocabulary.MAX_INTERVAL_SECONDS}")
        if not crons and interval_seconds is None:
            raise SpecError("cron", "give at least one cron expression or intervalSeconds")
        phase = phase_seconds or 0
        if phase and interval_seconds is None:
            raise SpecError("phaseSeconds", "needs intervalSeconds")
        if interval_seconds is not None and not 0 <= phase < interval_seconds:
            raise SpecError("phaseSeconds", "must be from 0 to intervalSeconds - 1")
        name = timezone or "UTC"
        zone(name)
        for field, value in (("startAt", start_at), ("endAt", end_at)):
            if value is not None and not MIN_MS <= value <= MAX_MS:
                raise SpecError(field, "must be between 1970 and 9000")
        if start_at is not None and end_at is not None and end_at <= start_at:
            raise SpecError("endAt", "must be after startAt")
        jitter = jitter_seconds or 0
        if not 0 <= jitter <= vocabulary.MAX_JITTER_SECONDS:
            raise SpecError("jitterSeconds",
                            f"must be from 0 to {vocabulary.MAX_JITTER_SECONDS}")
        return cls(tuple(crons), None if interval_seconds is None else interval_seconds * 1000,
                   phase * 1000, name, start_at, end_at, jitter * 1000)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zone(self.timezone)

    def describe(self) -> str:
        parts = [c.explain() for c in self.crons]
        if self.interval_ms is not None:
            parts.append(f"every {self.interval_ms // 1000} s")
        where = "" if self.timezone == "UTC" or not self.crons else f" ({self.timezone})"
        return "; ".join(parts) + where

    # -- iteration ---------------------------------------------------------------------
    def _cron_after(self, cron: Cron, after: int) -> Iterator[int]:
        tz = self.zone
        wall = from_ms(after).astimezone(tz).replace(tzinfo=None)
        return _walls(cron.after(wall), tz, after, forward=True)

    def _cron_before(self, cron: Cron, before: int) -> Iterator[int]:
        from cronsim import CronSim

        tz = self.zone
        local = from_ms(before).astimezone(tz)
        wall = local.replace(tzinfo=None)
        if local.fold:
            # ``before`` is in the repeated hour's second pass: first-pass ticks with later
            # wall times are still before it, so start past the repetition (``_walls``
            # drops what is not before ``before``).
            wall += timedelta(hours=3)
        return _walls(iter(CronSim(cron.expression, wall, reverse=True)), tz, before,
                      forward=False)

    def _interval_after(self, after: int) -> Iterator[int]:
        assert self.interval_ms is not None
        step = self.interval_ms
        tick = self.phase_ms + ((after - self.phase_ms) // step + 1) * step
        while True:
            yield tick
            tick += step

    def _interval_before(self, before: int) -> Iterator[int]:
        assert self.interval_ms is not None
        step = self.interval_ms
        tick = self.phase_ms + ((before - self.phase_ms - 1) // step) * step
        while True:
            yield tick
            tick -= step

    def after(self, after: int) -> Iterator[int]:
        """Ticks strictly after ``after`` (ms), in order, each instant once."""
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - 1
        sources: list[Iterator[int]] = [self._cron_after(c, after) for c in self.crons]
        if self.interval_ms is not None:
            sources.append(self._interval_after(after))
        last = after
        for tick in heapq.merge(*sources):
            if tick > (MAX_MS if self.end_at is None else self.end_at):
                return
            if tick > last:
                last = tick
                yield tick

    def before(self, before: int) -> Iterator[int]:
        """Ticks strictly before ``before`` (ms), latest first, each instant once."""
        if self.end_at is not None and before > self.end_at:
            before = self.end_at + 1
        sources: list[Iterator[int]] = [self._cron_before(c, before) for c in self.crons]
        if self.interval_ms is not None:
            sources.append(self._interval_before(before))
        last = before
        for negated in heapq.merge(*((-t for t in s) for s in sources)):
            tick = -negated
            if tick < (MIN_MS if self.start_at is None else self.start_at):
                return
            if tick < last:
                last = tick
                yield tick

    def next_tick(self, after: int) -> int | None:
        """The first tick strictly after ``after``, or None (none left)."""
        return next(self.after(after), None)

    def between(self, first: int, last: int, limit: int) -> list[int]:
        """Up to ``limit`` ticks in ``[first, last]``, oldest first."""
        out: list[int] = []
        for tick in self.after(first - 1):
            if tick > last or len(out) >= limit:
                break
            out.append(tick)
        return out

    def count(self, first: int, last: int, cap: int) -> int | None:
        """How many ticks ``[first, last]`` holds; None when more than ``cap``."""
        if self.interval_ms is not None and not self.crons and first <= last:
            lo, hi = max(first, self.start_at or first), min(last, self.end_at or last)
            if hi < lo:
                return 0
            step = self.interval_ms
            counted = (hi - self.phase_ms) // step - (lo - 1 - self.phase_ms) // step
            return counted if counted <= cap else None
        found = len(self.between(first, last, cap + 1))
        return found if found <= cap else None

    def fire_at(self, schedule_id: str, tick: int) -> int:
        """When tick ``tick`` fires: plus its jitter, the same in every process."""
        if not self.jitter_ms:
            return tick
        digest = hashlib.sha256(f"{schedule_id}:{tick}".encode()).digest()
        return tick + int.from_bytes(digest[:8], "big") % (self.jitter_ms + 1)

"""The DST policy, with a fake clock across the European and US transitions: a wall time
that does not exist fires at the first instant after the gap; one that happens twice fires
once, on its first occurrence; interval specs ignore DST."""

from __future__ import annotations

import itertools

import pytest

from tests.schedules.conftest import ms
from workflow_studio.engine.schedules.spec import Spec, from_ms


def utc(tick: int) -> str:
    return from_ms(tick).strftime("%Y-%m-%d %H:%M")


def local(tick: int, zone: str) -> str:
    spec = Spec.build(cron=["0 0 * * *"], timezone=zone)
    return from_ms(tick).astimezone(spec.zone).strftime("%m-%d %H:%M %Z")


def fires(cron: str, zone: str, after: int, count: int) -> list[int]:
    spec = Spec.build(cron=[cron], timezone=zone)
    out, it = [], spec.after(after)
    for _ in range(count):
        out.append(next(it))
    return out


@pytest.mark.parametrize(("zone", "day", "first_after_gap"), [
    ("Europe/Berlin", (2024, 3, 31), "2024-03-31 01:00"),     # 02:00 CET -> 03:00 CEST
    ("America/New_York", (2024, 3, 10), "2024-03-10 07:00"),  # 02:00 EST -> 03:00 EDT
])
def test_a_time_in_the_spring_gap_fires_at_the_first_instant_after_it(
        zone: str, day: tuple[int, int, int], first_after_gap: str) -> None:
    before = ms(*day, 0, 0, 0) - 24 * 3600_000
    ticks = fires("30 2 * * *", zone, before, 3)
    assert [utc(t) for t in ticks][1] == first_after_gap
    assert local(ticks[1], zone).endswith("03:00 " + ("CEST" if "Berlin" in zone else "EDT"))
    # the days around it fire at 02:30 local as usual
    assert local(ticks[0], zone).split()[1] == local(ticks[2], zone).split()[1] == "02:30"


def test_every_tick_inside_a_gap_is_one_tick() -> None:
    """*/15 from 01:30 CET: 01:45, then 02:00-02:45 do not exist -> one fire at 03:00 CEST
    (which is also a tick itself), then 03:15."""
    after = ms(2024, 3, 31, 0, 30, 0)  # 01:30 CET
    ticks = fires("*/15 * * * *", "Europe/Berlin", after, 3)
    assert [local(t, "Europe/Berlin") for t in ticks] == [
        "03-31 01:45 CET", "03-31 03:00 CEST", "03-31 03:15 CEST"]


@pytest.mark.parametrize(("zone", "day", "first_pass_utc"), [
    ("Europe/Berlin", (2024, 10, 27), "2024-10-27 00:30"),     # 02:30 CEST, not 02:30 CET
    ("America/New_York", (2024, 11, 3), "2024-11-03 05:30"),   # 01:30 EDT, not 01:30 EST
])
def test_a_repeated_time_fires_once_on_its_first_occurrence(
        zone: str, day: tuple[int, int, int], first_pass_utc: str) -> None:
    hour = 2 if "Berlin" in zone else 1
    ticks = fires(f"30 {hour} * * *", zone, ms(*day, 0, 0, 0) - 24 * 3600_000, 3)
    assert utc(ticks[1]) == first_pass_utc
    assert ticks[2] - ticks[1] == 25 * 3600_000  # the next day's, 25 h later


def test_the_repeated_hour_second_pass_does_not_fire_again() -> None:
    """Every 20 minutes through the Berlin fall-back: 02:00-02:40 fire in the first pass
    (CEST) only; the next fire after 02:40 CEST is 03:00 CET, two hours later in UTC terms
    minus one."""
    after = ms(2024, 10, 26, 23, 30, 0)  # 01:30 CEST
    ticks = fires("*/20 * * * *", "Europe/Berlin", after, 6)
    assert [local(t, "Europe/Berlin") for t in ticks] == [
        "10-27 01:40 CEST", "10-27 02:00 CEST", "10-27 02:20 CEST", "10-27 02:40 CEST",
        "10-27 03:00 CET", "10-27 03:20 CET"]
    # starting inside the second pass finds 03:00 CET, not a first-pass time again
    assert local(next(Spec.build(cron=["*/20 * * * *"], timezone="Europe/Berlin").after(
        ms(2024, 10, 27, 1, 10, 0))), "Europe/Berlin") == "10-27 03:00 CET"


def test_reading_backwards_agrees_with_reading_forwards() -> None:
    spec = Spec.build(cron=["*/20 * * * *", "30 2 * * *"], timezone="Europe/Berlin")
    start, end = ms(2024, 10, 26, 22, 0, 0), ms(2024, 10, 27, 4, 0, 0)
    forward = spec.between(start, end, 1000)
    backward = []
    for tick in spec.before(end + 1):
        if tick < start:
            break
        backward.append(tick)
    assert backward[::-1] == forward
    spring = Spec.build(cron=["*/15 * * * *"], timezone="America/New_York")
    start, end = ms(2024, 3, 10, 5, 0, 0), ms(2024, 3, 10, 9, 0, 0)
    forward = spring.between(start, end, 1000)
    back = itertools.takewhile(lambda t: t >= start, spring.before(end + 1))
    assert list(back)[::-1] == forward


def test_intervals_are_instants_and_ignore_dst() -> None:
    spec = Spec.build(interval_seconds=3600, phase_seconds=1800, timezone="Europe/Berlin")
    ticks = spec.between(ms(2024, 3, 30, 23, 0, 0), ms(2024, 3, 31, 3, 0, 0), 10)
    assert [utc(t) for t in ticks] == ["2024-03-30 23:30", "2024-03-31 00:30",
                                       "2024-03-31 01:30", "2024-03-31 02:30"]
    assert all(b - a == 3600_000 for a, b in itertools.pairwise(ticks))


def test_the_firing_loop_follows_the_policy_across_a_transition(
        conn: object, runtime: object, scheduler: object, make_schedule: object,
        clock: object) -> None:
    """A real schedule with the fake clock walked through the Berlin spring gap."""
    from tests.schedules.conftest import ticks as ledger
    clock.now = ms(2024, 3, 31, 0, 40, 0)  # type: ignore[attr-defined]
    made = make_schedule(cron=["*/10 * * * *"], timezone="Europe/Berlin",  # type: ignore[operator]
                         overlap="allow_all")
    for _ in range(5):
        clock.advance(600)  # type: ignore[attr-defined]
        scheduler.run_once()  # type: ignore[attr-defined]
    fired = [local(t, "Europe/Berlin") for t, outcome in ledger(conn, made["id"])
             if outcome == "fired"]
    assert fired == ["03-31 01:50 CET", "03-31 03:00 CEST", "03-31 03:10 CEST",
                     "03-31 03:20 CEST", "03-31 03:30 CEST"]

"""Overlap, catch-up, pause/resume, remaining actions and backfill, with the firing loop
driven by a fake clock (no sleeps): every tick gets exactly one ledger row, and every fired
tick exactly one run carrying its ``scheduledAt``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.schedules.conftest import finish, schedule_runs, ticks
from workflow_studio.compute.ids import new_id
from workflow_studio.engine.schedules import firing, service
from workflow_studio.engine.schedules.policy import GRACE_MS
from workflow_studio.storage import schedules as repo

pytestmark = pytest.mark.both_backends
SECOND = 1000


def outcomes(conn: Any, schedule_id: str) -> list[str]:
    return [outcome for _, outcome in ticks(conn, schedule_id)]


def step(clock: Any, scheduler: Any, seconds: int = 1) -> int:
    clock.advance(seconds)
    return scheduler.run_once()


def test_allow_all_fires_every_tick_once(conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all")
    for _ in range(5):
        assert step(clock, scheduler) == 1
        assert scheduler.run_once() == 0  # the same instant again: nothing new
    fired = schedule_runs(conn, made["id"])
    assert [r["scheduled_at"] for r in fired] == [made["next_tick_at"] + i * SECOND
                                                  for i in range(5)]
    assert {r["trigger_type"] for r in fired} == {"schedule"}
    assert outcomes(conn, made["id"]) == ["fired"] * 5


def test_skip_records_the_ticks_a_live_run_overlaps(conn, scheduler, make_schedule,
                                                     clock) -> None:
    made = make_schedule(cron=["* * * * * *"])  # overlap: skip (the default)
    step(clock, scheduler)
    step(clock, scheduler)
    step(clock, scheduler)
    first = schedule_runs(conn, made["id"])
    assert len(first) == 1
    finish(conn, first[0]["id"])
    step(clock, scheduler)
    assert outcomes(conn, made["id"]) == ["fired", "skipped_overlap", "skipped_overlap",
                                          "fired"]
    reason = repo.tick(conn, made["id"], made["next_tick_at"] + SECOND)["reason"]
    assert first[0]["id"] in reason


def test_buffer_one_keeps_one_tick_and_fires_it_when_the_run_ends(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="buffer_one")
    for _ in range(3):
        step(clock, scheduler)
    assert outcomes(conn, made["id"]) == ["fired", "buffered", "skipped_overlap"]
    assert repo.get(conn, made["id"])["buffered"] == 1
    first = schedule_runs(conn, made["id"])[0]
    finish(conn, first["id"])
    assert scheduler.run_once() == 1  # the buffered tick fires, with its own scheduledAt
    later = schedule_runs(conn, made["id"])
    assert [r["scheduled_at"] for r in later] == [made["next_tick_at"],
                                                  made["next_tick_at"] + SECOND]
    assert outcomes(conn, made["id"]) == ["fired", "fired", "skipped_overlap"]
    assert repo.get(conn, made["id"])["buffered"] == 0


def test_buffer_all_fires_the_buffered_ticks_one_after_another(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="buffer_all")
    for _ in range(4):
        step(clock, scheduler)
    assert outcomes(conn, made["id"]) == ["fired", "buffered", "buffered", "buffered"]
    for expected in range(2, 5):
        live = [r for r in schedule_runs(conn, made["id"]) if r["status"] == "pending"]
        assert len(live) == 1
        finish(conn, live[0]["id"])
        assert scheduler.run_once() == 1
        assert len(schedule_runs(conn, made["id"])) == expected
    assert outcomes(conn, made["id"]) == ["fired"] * 4


def test_cancel_other_cancels_the_live_run_and_fires(conn, scheduler, make_schedule,
                                                     clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="cancel_other")
    step(clock, scheduler)
    step(clock, scheduler)
    first, second = schedule_runs(conn, made["id"])
    assert (first["status"], second["status"]) == ("cancelled", "pending")
    assert outcomes(conn, made["id"]) == ["fired", "fired"]


def test_catchup_latest_fires_one_run_for_the_most_recent_missed_tick(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * *"], overlap="allow_all")  # every minute
    clock.advance(10 * 60 + 30)  # down for 10 minutes
    assert scheduler.run_once() == 1
    fired = schedule_runs(conn, made["id"])
    assert fired[0]["scheduled_at"] == made["next_tick_at"] + 9 * 60 * SECOND
    rows = repo.recent_ticks(conn, made["id"])
    assert [(r["outcome"], r["tick_count"]) for r in rows] == [("fired", 1),
                                                               ("missed_catchup", 9)]


def test_catchup_all_fires_each_missed_tick_up_to_max_catchup(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * *"], overlap="allow_all", catchup="all",
                         maxCatchup=5)
    clock.advance(10 * 60 + 30)
    assert scheduler.run_once() == 5
    fired = schedule_runs(conn, made["id"])
    start = made["next_tick_at"]
    assert [r["scheduled_at"] for r in fired] == [start + m * 60 * SECOND for m in range(5, 10)]
    assert [(r["outcome"], r["tick_count"]) for r in repo.recent_ticks(conn, made["id"])][-1] \
        == ("missed_catchup", 5)


def test_catchup_none_skips_missed_ticks_and_fires_on_time_ones(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all", catchup="none")
    clock.advance(60)
    # a minute late: the last GRACE seconds count as on time, the rest are missed
    started = scheduler.run_once()
    assert started == GRACE_MS // SECOND + 1
    rows = repo.recent_ticks(conn, made["id"], 100)
    assert rows[-1]["outcome"] == "missed_catchup"
    assert rows[-1]["tick_count"] == 60 - started


def test_ticks_older_than_the_window_are_missed_window(conn, scheduler, make_schedule,
                                                       clock) -> None:
    made = make_schedule(cron=["0 * * * *"], overlap="allow_all", catchup="all",
                         catchupWindowSeconds=3 * 3600)
    clock.advance(10 * 3600 + 60)  # ten hourly ticks missed, three inside the window
    assert scheduler.run_once() == 3
    rows = repo.recent_ticks(conn, made["id"])
    assert [(r["outcome"], r["tick_count"]) for r in rows] == [
        ("fired", 1), ("fired", 1), ("fired", 1), ("missed_window", 7)]
    assert rows[-1]["until_at"] == made["next_tick_at"] + 6 * 3600 * SECOND


def test_pause_records_the_ticks_it_skipped_and_resume_goes_on(
        conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all")
    step(clock, scheduler)
    service.pause(conn, made["id"], "maintenance", "key_x", clock.now)
    for _ in range(5):
        assert step(clock, scheduler) == 0
    row = service.resume(conn, made["id"], clock.now)
    assert row["next_tick_at"] == clock.now + SECOND
    paused = repo.tick(conn, made["id"], made["next_tick_at"] + SECOND)
    assert (paused["outcome"], paused["tick_count"], paused["reason"]) == (
        "paused", 5, "maintenance")
    assert step(clock, scheduler) == 1
    assert outcomes(conn, made["id"]) == ["fired", "paused", "fired"]


def test_remaining_actions_stop_the_schedule(conn, scheduler, make_schedule, clock) -> None:
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all", remainingActions=2)
    for _ in range(4):
        step(clock, scheduler)
    assert len(schedule_runs(conn, made["id"])) == 2
    row = repo.get(conn, made["id"])
    assert (row["remaining_actions"], row["next_tick_at"]) == (0, None)


def test_jitter_is_deterministic_per_tick_and_within_bounds(conn, scheduler,
                                                             make_schedule, clock) -> None:
    made = make_schedule(cron=["*/10 * * * * *"], overlap="allow_all", jitterSeconds=5)
    spec = firing.spec_of(made["spec_json"])
    tick = made["next_tick_at"]
    assert spec.fire_at(made["id"], tick) == spec.fire_at(made["id"], tick)
    fire_at = spec.fire_at(made["id"], tick)
    assert tick <= fire_at <= tick + 5 * SECOND
    assert made["next_fire_at"] == fire_at
    clock.now = fire_at - 1
    assert scheduler.run_once() == 0
    clock.now = fire_at
    assert scheduler.run_once() == 1
    assert schedule_runs(conn, made["id"])[0]["scheduled_at"] == tick  # the nominal tick


def test_trigger_fires_now_without_using_a_tick(conn, runtime, make_schedule, clock) -> None:
    made = make_schedule(cron=["0 3 * * *"], remainingActions=1)
    outcome, run, _ = firing.trigger(runtime, conn, made["id"], "allow_all", clock.now)
    assert outcome == "fired" and run["schedule_id"] == made["id"]
    assert run["scheduled_at"] is None
    assert repo.get(conn, made["id"])["remaining_actions"] == 1
    outcome, run, _ = firing.trigger(runtime, conn, made["id"], "skip", clock.now)
    assert (outcome, run) == ("skipped_overlap", None)


def test_backfill_fires_past_ticks_once(conn, runtime, make_schedule, clock) -> None:
    made = make_schedule(cron=["0 * * * *"], overlap="allow_all")
    row = repo.get(conn, made["id"])
    first, last = clock.now - 5 * 3600 * SECOND, clock.now - 1
    tick_list = service.backfill_ticks(row, first, last, clock.now)
    assert len(tick_list) == 5
    report, _ = firing.backfill(runtime, conn, made["id"], tick_list, "allow_all", clock.now)
    assert [r["outcome"] for r in report] == ["fired"] * 5
    again, _ = firing.backfill(runtime, conn, made["id"], tick_list, "allow_all", clock.now)
    assert [r["outcome"] for r in again] == ["already_decided"] * 5
    assert sorted(r["scheduled_at"] for r in schedule_runs(conn, made["id"])) == tick_list
    with pytest.raises(service.ScheduleInvalid):
        service.backfill_ticks(row, first, clock.now + 3600 * SECOND, clock.now)


def test_a_refused_start_is_recorded_with_its_reason(conn, scheduler, make_schedule,
                                                     clock) -> None:
    made = make_schedule(cron=["* * * * * *"], workflowName="not_deployed")
    step(clock, scheduler)
    row = repo.tick(conn, made["id"], made["next_tick_at"])
    assert row["outcome"] == "start_failed" and "unknown_workflow" in row["reason"]
    assert schedule_runs(conn, made["id"]) == []


def test_racing_processes_fire_a_tick_once(conn, db, runtime, make_schedule, clock,
                                           make_database) -> None:
    """Two processes' views of one schedule fire the same due tick: one wins, the other
    finds it claimed; and even a process that skips the claim cannot make a second run,
    because (schedule, tick) is unique in the ledger and on the runs."""
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all")
    clock.advance(1)
    row = repo.due(conn, clock.now)[0]
    assert firing.fire(runtime, conn, row, clock.now) is not None
    assert firing.fire(runtime, conn, row, clock.now) is None  # stale view: claim fails
    locked = repo.get(conn, made["id"])
    with conn.transaction():  # bypass the claim: the ledger key refuses the tick
        racer = firing.Firing(runtime, conn, locked, clock.now)
        assert racer.decide(made["next_tick_at"], "allow_all") == "decided"
    from workflow_studio.engine import runs as starts
    from workflow_studio.storage import IntegrityError
    with pytest.raises(IntegrityError), conn.transaction():
        starts.start_run(conn, starts.StartRequest(
            "report", trigger_type="schedule", run_id=new_id("wrun"),
            schedule_id=made["id"], scheduled_at=made["next_tick_at"]))
    assert len(schedule_runs(conn, made["id"])) == 1


def test_the_ledger_is_purged_after_its_retention(conn, runtime, make_schedule,
                                                  clock) -> None:
    from workflow_studio.engine.schedules import Scheduler
    made = make_schedule(cron=["* * * * * *"], overlap="allow_all")
    loop = Scheduler(runtime, history_days=1)
    for _ in range(3):
        step(clock, loop)
    assert loop.purge(conn, clock.now) == 0  # younger than a day
    clock.advance(2 * 86400)
    assert loop.purge(conn, clock.now) == 3
    assert loop.purge(conn, clock.now) is None  # the slot: once a minute, one process
    assert ticks(conn, made["id"]) == []
    assert len(schedule_runs(conn, made["id"])) == 3  # the runs stay

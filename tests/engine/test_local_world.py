"""The engine's semantics, proven fast against the embedded local world."""

from __future__ import annotations

from decimal import Decimal

import pytest

import workflow_studio as ws
from tests.engine import flows
from tests.engine.e2e_project import wait_for as wait_until
from workflow_studio.sdk import RunFailedError

pytestmark = pytest.mark.both_backends


def waiting_on(run: ws.Run, kind: str) -> bool:
    info = run.info()
    return info["status"] == "running" and (info["waitingOn"] or {}).get("type") == kind


def test_result_and_steps_recorded_once(world):
    run = ws.start(flows.sum_flow, 10)
    assert run.result(10) == {"total": 45, "when": (1, Decimal("2.5"))}
    assert flows.calls["add"] == 10
    steps = run.steps()
    assert [s["status"] for s in steps] == ["completed"] * 10
    types = [e["eventType"] for e in run.events()]
    assert types[:2] == ["run_created", "run_started"] and types[-1] == "run_completed"
    assert types.count("step_completed") == 10


def test_start_by_name_and_get_run(world):
    run = ws.start("sum_flow", n=3)
    assert run.result(10)["total"] == 3
    assert ws.get_run(run.id).status() == "completed"


def test_retries_then_success(world):
    run = ws.start(flows.retry_flow, "r1", 2)
    assert run.result(10) == "ok after 3"
    step = run.steps()[0]
    assert step["attempt"] == 3 and step["status"] == "completed"
    assert [e["eventType"] for e in run.events()].count("step_retrying") == 2


def test_fatal_error_fails_without_retry(world):
    run = ws.start(flows.fatal_flow)
    with pytest.raises(RunFailedError) as info:
        run.result(10)
    assert info.value.code == "step_failed"
    assert "card declined" in info.value.error["message"]
    assert flows.calls["fatal"] == 1


def test_exhausted_retries_fail_the_run(world):
    run = ws.start(flows.retry_flow, "r2", 10)
    with pytest.raises(RunFailedError) as info:
        run.result(10)
    assert info.value.code == "step_failed"
    assert flows.calls["r2"] == 4  # one attempt plus max_retries=3


def test_workflow_can_catch_a_failed_step(world):
    run = ws.start(flows.retry_caught_flow, "r3", 10)
    assert run.result(10) == "gave up: ValueError"


def test_unserialisable_step_result_names_its_type(world):
    run = ws.start(flows.bad_return_flow)
    with pytest.raises(RunFailedError) as info:
        run.result(10)
    assert "set" in info.value.error["message"]


def test_step_outside_a_workflow_raises_clearly():
    with pytest.raises(ws.NotInWorkflowError, match="outside a workflow"):
        flows.add(1, 2)
    with pytest.raises(ws.NotInWorkflowError):
        ws.sleep("1s")
    assert flows.add.fn(1, 2) == 3


def test_sleep_parks_the_run_then_completes(world):
    run = ws.start(flows.sleep_flow, "300ms")
    wait_until(lambda: waiting_on(run, "sleep"))
    assert run.result(10) == "slept after 2"
    types = [e["eventType"] for e in run.events()]
    assert "wait_created" in types and "wait_completed" in types
    assert flows.calls["add"] == 1  # the replay after the sleep did not re-run the step


def test_hook_wait_and_resume(world):
    run = ws.start(flows.hook_flow, "order-42")
    wait_until(lambda: waiting_on(run, "hook"))
    ws.resume_hook("order-42", {"approved": True, "at": b"\x00\x01"})
    assert run.result(10) == {"token": "order-42",
                              "payload": {"approved": True, "at": b"\x00\x01"}}
    with pytest.raises(LookupError):
        ws.resume_hook("order-42", {})  # disposed with its finished run


def test_hook_token_conflict_and_unknown_token(world):
    first = ws.start(flows.hook_flow, "dup")
    wait_until(lambda: waiting_on(first, "hook"))
    second = ws.start(flows.hook_flow, "dup")
    with pytest.raises(RunFailedError, match="already in use"):
        second.result(10)
    with pytest.raises(LookupError):
        ws.resume_hook("no-such-token", 1)
    first.cancel()


def test_hook_timeout(world):
    run = ws.start(flows.hook_timeout_flow)
    assert run.result(10) == "timed out"


def test_cancel_a_sleeping_run(world):
    run = ws.start(flows.sleep_flow, "1h")
    wait_until(lambda: waiting_on(run, "sleep"))
    run.cancel()
    assert run.status() == "cancelled"
    assert run.wait(1) == "cancelled"
    with pytest.raises(ws.RunCancelledError):
        run.result(1)
    from workflow_studio.storage.world import WorldConflict
    with pytest.raises(WorldConflict):
        run.cancel()


def test_parallel_fan_out(world):
    run = ws.start(flows.fanout_flow, [1, 2, 3, 4])
    assert run.result(15) == [2, 4, 6, 8, 3, 7]
    assert flows.calls["double"] == 4
    assert all(s["status"] == "completed" for s in run.steps())


def test_stream_read_while_live(world):
    run = ws.start(flows.stream_flow, 3)
    chunks = run.stream("progress", timeout=10)
    assert next(chunks) == {"i": 0}
    assert run.status() == "running"  # read while the step is still running
    flows.gate("stream").set()
    assert list(chunks) == [{"i": 1}, {"i": 2}]
    assert run.result(10) == 3


def test_non_determinism_is_detected(world):
    run = ws.start(flows.drifting_flow)
    wait_until(lambda: waiting_on(run, "hook"))
    flows.switches["drift"] = True
    ws.resume_hook("drift-token", None)
    with pytest.raises(RunFailedError) as info:
        run.result(10)
    assert info.value.code == "nondeterministic_replay"
    assert "'step_b'" in info.value.error["message"]
    assert "'step_a'" in info.value.error["message"]


def test_deterministic_values_are_replayed(world):
    run = ws.start(flows.values_flow)
    value = run.result(10)
    assert len(flows.seen_values) >= 2  # first execution and the replay after the sleep
    assert len(set(flows.seen_values)) == 1
    assert value == str(flows.seen_values[0][0])


def test_step_timeout_frees_the_slot(world):
    run = ws.start(flows.timeout_flow)
    with pytest.raises(RunFailedError, match="timeout"):
        run.result(10)
    assert ws.start(flows.sum_flow, 2).result(10)["total"] == 1
    flows.gate("stuck").set()


def test_idempotency_key_locally(world):
    first = ws.start_with(idempotency_key="k1").start(flows.sum_flow, 4)
    again = ws.start_with(idempotency_key="k1").start(flows.sum_flow, 4)
    assert first.id == again.id
    with pytest.raises(ValueError, match="already used for a different start"):
        ws.start_with(idempotency_key="k1").start(flows.sum_flow, 5)


def test_many_runs_concurrently(world):
    runs = [ws.start(flows.sum_flow, 5) for _ in range(30)]
    assert all(r.result(20)["total"] == 10 for r in runs)


def test_heartbeat_keeps_the_lease_of_a_long_step(make_database):
    from workflow_studio import sdk
    from workflow_studio.sdk.local_world import LocalWorld
    from workflow_studio.storage.world import queue

    flows.gates.pop("stream", None)
    local = LocalWorld(slots=2, lease_seconds=0.3, database=make_database("lease.db"))
    previous = sdk.set_world(local)
    try:
        run = ws.start(flows.stream_flow, 2)  # its step blocks on the "stream" gate
        chunks = run.stream("progress", timeout=10)
        assert next(chunks) == {"i": 0}
        conn = local.db.connection()
        first = conn.query_one("SELECT claim_token, lease_expires_at FROM queue_messages")
        wait_until(lambda: conn.query_one(
            "SELECT lease_expires_at FROM queue_messages")["lease_expires_at"]
            > first["lease_expires_at"] + 300)  # extended past one whole lease
        again = conn.query_one("SELECT claim_token FROM queue_messages")
        assert again["claim_token"] == first["claim_token"]  # never taken over
        flows.gate("stream").set()
        assert run.result(10) == 2
        assert queue.pending_count(conn) == 0
    finally:
        flows.gate("stream").set()
        sdk.set_world(previous)
        local.close()


def test_fanned_out_step_is_retried(world):
    run = ws.start(flows.fanout_retry_flow, "fan")
    assert run.result(10) == ["ok after 2", "ok after 1"]
    assert [s["attempt"] for s in run.steps()] == [2, 1]


def test_a_run_may_resume_more_often_than_the_crash_loop_limit(world):
    from workflow_studio.engine.runner import MAX_CLAIMS

    run = ws.start(flows.many_resumes_flow, MAX_CLAIMS + 5)
    assert run.result(30) == sum(2 * i for i in range(MAX_CLAIMS + 5))


def test_system_exit_fails_the_step_or_run_but_never_the_slot(world):
    step_run = ws.start(flows.exiting_step_flow)
    assert step_run.result(10) == "caught"
    assert [(s["status"], s["attempt"]) for s in step_run.steps()] == [("failed", 1)]
    failing = ws.start(flows.exiting_workflow_flow)
    with pytest.raises(RunFailedError):
        failing.result(10)
    # Every slot is still alive: more runs than slots complete afterwards.
    results = [ws.start(flows.sum_flow, 3) for _ in range(8)]
    assert [r.result(10)["total"] for r in results] == [3] * 8


def test_no_step_starts_after_cancel(world):
    gate = flows.gate("between")
    run = ws.start(flows.gated_between_steps_flow)
    wait_until(lambda: flows.calls["before"] == 1)
    run.cancel()
    gate.set()
    assert wait_until(lambda: run.status() == "cancelled")
    # Give the executor every chance to (wrongly) start step_b: wait until the run's
    # message is gone, which happens only after the slot has stopped working on it.
    wait_until(lambda: not world.db.connection().query(
        "SELECT id FROM queue_messages WHERE run_id = ?", (run.id,)))
    assert flows.calls["after"] == 0


def test_timed_steps_writing_streams_leave_no_connections_behind(world):
    before = len(world.db._opened)
    run = ws.start(flows.timed_emitter_flow, 20)
    assert run.result(30) == list(range(20))
    # Each timed step runs in a thread of its own; its connection must not outlive it.
    assert len(world.db._opened) <= before + world.executor.slots + 2

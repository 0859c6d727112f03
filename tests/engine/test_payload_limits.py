"""Values workflow code produces are held to the same bounds as API input: a step result,
a workflow result, a stream chunk or step arguments over the payload limit, nested too deep
or holding a lone surrogate fail the step or the run with a message saying why, and no
giant (or unreadable) row is stored.

Before, such a value went to the database whole (any size), or failed to encode inside the
commit: a lone surrogate made the driver raise, the executor slot logged it and let the
lease lapse, and the run was claimed and crashed again and again.
"""

from __future__ import annotations

from typing import Any

import pytest

import workflow_studio as ws
from workflow_studio.compute import payloads
from workflow_studio.sdk import RunFailedError

pytestmark = pytest.mark.both_backends
LIMIT = 4096
BIG = "x" * (LIMIT + 1)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@ws.step(max_retries=3, retry_delay=0.01)
def produce(kind: str) -> Any:
    calls.append(kind)
    if kind == "big":
        return BIG
    if kind == "deep":
        return deep(payloads.MAX_DEPTH + 1)
    if kind == "surrogate":
        return {"name": "a\ud800b"}
    if kind == "stream":
        ws.get_writable("out").write(BIG)
    return "ok"


@ws.step
def take(value: Any) -> int:
    return len(value)


@ws.workflow
def producing(kind: str) -> Any:
    return produce(kind)


@ws.workflow
def returning_big() -> Any:
    produce("small")
    return BIG


@ws.workflow
def passing_big() -> Any:
    return take(BIG)


calls: list[str] = []


@pytest.fixture
def limited(world: Any) -> Any:
    calls.clear()
    world.runtime.max_payload_bytes = LIMIT
    return world


def stored_sizes(world: Any) -> int:
    """The longest payload stored anywhere in the world."""
    conn = world.db.connection()
    longest = 0
    for table, column in (("workflow_runs", "output_json"), ("workflow_steps", "output_json"),
                          ("workflow_steps", "input_json"), ("stream_chunks", "data_json")):
        row = conn.query_one(f"SELECT max(length({column})) AS n FROM {table}")
        longest = max(longest, int(row["n"] or 0) if row else 0)
    return longest


@pytest.mark.parametrize(("kind", "says"), [
    ("big", "more than the 4096 bytes a payload may have"),
    ("deep", f"nested more than {payloads.MAX_DEPTH} levels"),
    ("surrogate", "lone surrogate"),
    ("stream", "more than the 4096 bytes a payload may have"),
])
def test_a_step_value_that_cannot_be_stored_fails_the_step_at_once(
        limited: Any, kind: str, says: str) -> None:
    run = ws.start(producing, kind)
    with pytest.raises(RunFailedError) as failed:
        run.result(10)
    assert failed.value.code == "step_failed"
    assert says in failed.value.error["message"]
    assert calls == [kind], "retried: the same value cannot be stored on any attempt"
    (step,) = run.steps()
    assert step["status"] == "failed" and step["output"] is None
    assert stored_sizes(limited) < LIMIT


def test_a_workflow_result_over_the_limit_fails_the_run(limited: Any) -> None:
    run = ws.start(returning_big)
    with pytest.raises(RunFailedError) as failed:
        run.result(10)
    assert failed.value.code == "invalid_output"
    assert "worker.limits.max_payload_bytes" in failed.value.error["message"]
    assert stored_sizes(limited) < LIMIT


def test_step_arguments_over_the_limit_fail_the_run(limited: Any) -> None:
    run = ws.start(passing_big)
    with pytest.raises(RunFailedError) as failed:
        run.result(10)
    assert "step arguments" in failed.value.error["message"]
    assert run.steps() == []
    assert stored_sizes(limited) < LIMIT


def test_within_the_limit_nothing_changes(limited: Any) -> None:
    assert ws.start(producing, "small").result(10) == "ok"
    limited.runtime.max_payload_bytes = payloads.DEFAULT_MAX_BYTES
    assert ws.start(producing, "big").result(10) == BIG

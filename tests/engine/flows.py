"""Workflows and steps the engine tests run (module level, so they register once)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import workflow_studio as ws

calls: Counter[str] = Counter()
gates: dict[str, threading.Event] = {}
switches: dict[str, bool] = {}
seen_values: list[Any] = []


def gate(name: str) -> threading.Event:
    return gates.setdefault(name, threading.Event())


@ws.step
def add(a: int, b: int) -> int:
    calls["add"] += 1
    return a + b


@ws.step
def double(x: int) -> int:
    calls["double"] += 1
    return x * 2


@ws.workflow
def sum_flow(n: int) -> dict[str, Any]:
    total = 0
    for i in range(n):
        total = add(total, i)
    return {"total": total, "when": (1, Decimal("2.5"))}


@ws.step(max_retries=3, retry_delay=0.02, backoff=1.0)
def flaky(key: str, failures: int) -> str:
    calls[key] += 1
    if calls[key] <= failures:
        raise ValueError(f"attempt {calls[key]} failed")
    return f"ok after {calls[key]}"


@ws.workflow
def retry_flow(key: str, failures: int) -> str:
    return flaky(key, failures)


@ws.workflow
def retry_caught_flow(key: str, failures: int) -> str:
    try:
        return flaky(key, failures)
    except ws.StepFailedError as exc:
        return f"gave up: {exc.error_type}"


@ws.step
def fatal_step() -> None:
    calls["fatal"] += 1
    raise ws.FatalError("card declined")


@ws.workflow
def fatal_flow() -> None:
    fatal_step()


@ws.step
def bad_return() -> Any:
    return {1, 2}


@ws.workflow
def bad_return_flow() -> Any:
    return bad_return()


@ws.workflow
def sleep_flow(duration: str) -> str:
    before = add(1, 1)
    ws.sleep(duration)
    return f"slept after {before}"


@ws.workflow
def hook_flow(token: str | None = None) -> Any:
    hook = ws.create_hook(token=token, metadata={"purpose": "approval"})
    add(0, 1)
    payload = hook.wait()
    return {"token": hook.token, "payload": payload}


@ws.workflow
def hook_timeout_flow() -> str:
    hook = ws.create_hook()
    try:
        hook.wait(timeout="100ms")
    except ws.HookTimeoutError:
        return "timed out"
    return "received"


@ws.workflow
def fanout_flow(items: list[int]) -> list[int]:
    doubled = double.map(items)
    pair = ws.parallel(add.defer(1, 2), (add, 3, 4))
    return [*doubled, *pair]


@ws.step
def streamer(count: int) -> int:
    out = ws.get_writable("progress")
    for i in range(count):
        out.write({"i": i})
        if i == 0:
            gate("stream").wait(30)
    out.close()
    return count


@ws.workflow
def stream_flow(count: int) -> int:
    return streamer(count)


@ws.step
def step_a() -> str:
    return "a"


@ws.step
def step_b() -> str:
    return "b"


@ws.workflow
def drifting_flow() -> str:
    first = step_b() if switches.get("drift") else step_a()
    ws.create_hook(token="drift-token").wait()
    return first


@ws.workflow
def values_flow() -> str:
    value = ws.uuid4()
    stamp = ws.now()
    seen_values.append((value, stamp))
    ws.sleep("20ms")
    return str(value)


@ws.step(timeout=0.2, max_retries=0)
def stuck_step() -> str:
    gate("stuck").wait(30)
    return "finished"


@ws.workflow
def timeout_flow() -> str:
    return stuck_step()


@ws.workflow
def long_flow(n: int) -> int:
    total = 0
    for i in range(n):
        total = add(total, i)
    return total


@ws.workflow
def fanout_retry_flow(key: str) -> list[str]:
    return ws.parallel(flaky.defer(key, 1), flaky.defer(key + "-b", 0))


@ws.workflow
def many_resumes_flow(n: int) -> int:
    """Parks and resumes ``n`` times: more than the crash-loop limit of claims."""
    total = 0
    for i in range(n):
        total += double(i)
        ws.sleep(0.001)
    return total


@ws.step
def exiting_step() -> None:
    raise SystemExit(3)


@ws.workflow
def exiting_step_flow() -> str:
    try:
        exiting_step()
    except ws.StepFailedError:
        return "caught"
    return "not reached"


@ws.workflow
def exiting_workflow_flow() -> None:
    raise SystemExit(4)


@ws.step
def counted(name: str) -> str:
    calls[name] += 1
    return name


@ws.workflow
def gated_between_steps_flow() -> str:
    counted("before")
    gate("between").wait(10)  # non-durable workflow code between two steps
    counted("after")
    return "finished"


@ws.step(timeout=5)
def timed_emitter(i: int) -> int:
    with ws.get_writable() as out:
        out.write(i)
    return i


@ws.workflow
def timed_emitter_flow(n: int) -> list[int]:
    return [timed_emitter(i) for i in range(n)]


# -- unrecorded calls in workflow code, step timeouts and isolation ----------------------


@ws.workflow
def child_flow(tag: str) -> str:
    return tag


@ws.workflow
def starts_in_workflow_flow(how: str) -> str:
    """Starts a run (or calls a workflow) from workflow code, then parks once: a replay
    would do it again."""
    if how == "start":
        ws.start(child_flow, "plain")
    elif how == "start_with":
        ws.start_with(idempotency_key="child-key").start(child_flow, "keyed")
    else:
        child_flow("inline")
    ws.sleep("10ms")
    return how


@ws.step
def start_child(tag: str) -> str:
    return ws.start(child_flow, tag).id


@ws.workflow
def starts_from_step_flow() -> str:
    child_id = start_child("from-step")
    ws.sleep("10ms")
    return child_id


def mark(directory: str, what: str) -> int:
    """Append ``what pid time`` to ``directory/marks``; returns how many marks ``what`` has."""
    path = Path(directory) / "marks"
    with open(path, "a") as out:
        out.write(f"{what} {os.getpid()} {time.time()}\n")
    return sum(line.split()[0] == what for line in path.read_text().splitlines())


def overrun(directory: str) -> str:
    """A 1 s body (its steps time out after 0.3 s) that writes a stream chunk at its end."""
    mark(directory, "start")
    time.sleep(1.0)
    mark(directory, "end")
    try:
        ws.get_writable("late").write(os.getpid())
    except ws.StepTimeoutError:
        mark(directory, "fenced")
    return "late result"


@ws.step(timeout=0.3, max_retries=1, retry_delay=0.01, backoff=1.0)
def overrun_in_thread(directory: str) -> str:
    return overrun(directory)


@ws.step(timeout=0.3, max_retries=1, retry_delay=0.01, backoff=1.0, isolation="process")
def overrun_in_process(directory: str) -> str:
    return overrun(directory)


@ws.workflow
def overrun_flow(directory: str, isolation: str) -> str:
    step = overrun_in_process if isolation == "process" else overrun_in_thread
    try:
        return step(directory)
    except ws.StepFailedError as exc:
        return f"{exc.error_type} after {exc.attempts}"


@ws.step(isolation="process", max_retries=2, retry_delay=0.01, backoff=1.0)
def isolated(directory: str) -> tuple[int, Decimal]:
    attempt = mark(directory, "isolated")
    if attempt == 1:
        raise ValueError("the first attempt fails")
    with ws.get_writable("progress") as out:
        out.write({"pid": os.getpid(), "attempt": attempt})
    return attempt, Decimal("2.5")


@ws.step(isolation="process", max_retries=3)
def isolated_exit() -> None:
    raise SystemExit(3)


@ws.step(max_retries=3)
def interrupted() -> None:
    raise KeyboardInterrupt


@ws.workflow
def isolated_flow(directory: str) -> dict[str, Any]:
    value = isolated(directory)
    exits = []
    for step in (isolated_exit, interrupted):
        try:
            step()
        except ws.StepFailedError as exc:
            exits.append([exc.error_type, exc.attempts])
    return {"value": value, "exits": exits}

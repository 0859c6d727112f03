"""Workflows of the replay-check and debuggability tests, run in the test's own process
(module level, so they register once; ``flows.switches`` changes them between replays)."""

from __future__ import annotations

from typing import Any

import workflow_studio as ws
from tests.engine.flows import calls, gate, switches


@ws.step
def rc_echo(value: Any, **options: Any) -> Any:
    calls["rc_echo"] += 1
    return [value, options]


@ws.workflow
def rc_reordered_flow(token: str) -> Any:
    """Equal arguments whose dicts are built in another order on the replay."""
    keys = ["b", "a", "c"] if switches.get("reorder") else ["a", "b", "c"]
    nested = {key: {"x": 1, "y": [key]} for key in keys}
    options = {key: 1 for key in keys}
    first = rc_echo(nested, **options)
    ws.create_hook(token=token).wait()  # the test changes the switch meanwhile
    return first


@ws.workflow
def rc_changed_flow(token: str) -> Any:
    first = rc_echo(2 if switches.get("change") else 1)
    ws.create_hook(token=token).wait()
    return first


@ws.step(max_retries=2, retry_delay=0.01, backoff=1.0)
def rc_flaky(key: str) -> str:
    calls[key] += 1
    if calls[key] == 1:
        raise ValueError(f"{key} fails once")
    return key


@ws.step(max_retries=0)
def rc_broken(message: str) -> None:
    raise ValueError(message)


@ws.step(timeout=0.2, max_retries=0)
def rc_stuck() -> None:
    gate("rc-stuck").wait(30)


@ws.step(isolation="process", max_retries=0)
def rc_broken_in_process(message: str) -> None:
    raise ValueError(message)


@ws.workflow
def rc_debug_flow(message: str) -> dict[str, Any]:
    """A retry, a fan-out, a step that fails for good, one that times out, one that fails
    in a child process; each failure caught."""
    out: dict[str, Any] = {"flaky": rc_flaky("rc-inline"),
                           "fanned": ws.parallel(rc_flaky.defer("rc-fanned"),
                                                 rc_echo.defer(1))}
    for name, call in (("broken", lambda: rc_broken(message)), ("stuck", rc_stuck),
                       ("process", lambda: rc_broken_in_process(message))):
        try:
            call()
        except ws.StepFailedError as exc:
            out[name] = exc.error_type
    return out

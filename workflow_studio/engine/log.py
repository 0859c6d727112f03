"""A run's replay log: everything recorded by call order, loaded once per resume.

Steps, waits, hooks and deterministic values share one sequence of positions (``seq``): the
n-th durable call of a workflow function is position n. Loading is four indexed queries, so
a resume costs the same whatever the position, and each call afterwards is a dict lookup.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import hooks, steps, values, waits


@dataclasses.dataclass(slots=True)
class Entry:
    """One recorded call. Slotted: a 10,000-step run keeps 10,000 of these, and without an
    instance dict each is one object for the garbage collector to walk, not two."""

    kind: str            # "step" | "wait" | "hook" | "value"
    name: str            # step name, "sleep", "hook", or the value kind
    row: Row

    def describe(self) -> str:
        return f"step {self.name!r}" if self.kind == "step" else f"{self.kind} ({self.name})"


def load(conn: Connection, run_id: str) -> dict[int, Entry]:
    entries: dict[int, Entry] = {}
    for row in steps.for_run(conn, run_id):
        entries[row["seq"]] = Entry("step", row["step_name"], row)
    for row in waits.for_run(conn, run_id):
        entries[row["seq"]] = Entry("wait", "sleep", row)
    for row in hooks.for_run(conn, run_id):
        entries[row["seq"]] = Entry("hook", "hook", row)
    for row in values.for_run(conn, run_id):
        entries[row["seq"]] = Entry("value", row["kind"], row)
    return entries


def describe_call(kind: str, name: str) -> str:
    return Entry(kind, name, {}).describe()


def error_dict(exc: BaseException, **extra: Any) -> dict[str, Any]:
    """How an exception is recorded: type, message and anything extra."""
    return {"type": type(exc).__name__, "message": str(exc), **extra}

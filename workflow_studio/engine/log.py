"""A run's replay log: everything recorded by call order, loaded once per resume.

Steps, waits, hooks and deterministic values share one sequence of positions (``seq``): the
n-th durable call of a workflow function is position n. Loading is four indexed queries, so
a resume costs the same whatever the position, and each call afterwards is a dict lookup.

A step's entry carries the digest of the arguments it was called with (``args_digest``):
on replay a recorded step called with other arguments is non-determinism, not a cache hit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import traceback
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.config.environment import Redactor
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


# Sorted keys: two equal argument values give one digest, whatever order their dicts were
# built in (a dict made from a set differs in order between processes).
_canonical = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
                              sort_keys=True).encode
# How tagged JSON writes the plain values it stores unchanged (``str`` as ``json`` does with
# ``ensure_ascii=False``, in C).
_PLAIN: Mapping[type, Callable[[Any], str]] = MappingProxyType({
    str: encode_basestring, int: int.__repr__, bool: lambda v: "true" if v else "false",
    type(None): lambda _: "null"})


def call_json(args: tuple[Any, ...], kwargs: dict[str, Any],
              max_bytes: int | None) -> str:
    """A step call's arguments as the steps table stores them (``input_json``), for a
    replay to digest. Plain values (the common case) are written directly, about ten times
    faster than the tagging walk and encoder set-up of ``payloads.dumps`` on every replayed
    step; the text is the same (a test holds them equal). Anything else goes through
    ``payloads.dumps``."""
    try:
        positional = ",".join([_PLAIN[type(v)](v) for v in args])
        named = ",".join([encode_basestring(k) + ":" + _PLAIN[type(v)](v)
                          for k, v in kwargs.items()])
    except KeyError:  # a value tagged JSON writes otherwise (a float, tuple, dict...)
        named = None
    if named is None or (len(kwargs) == 1 and next(iter(kwargs)).startswith("$")):
        return payloads.dumps({"args": args, "kwargs": kwargs}, "step arguments", max_bytes)
    return '{"args":{"$tuple":[' + positional + ']},"kwargs":{' + named + "}}"


def args_digest(input_json: str, kwargs: dict[str, Any]) -> str:
    """A short digest of a step call's arguments, from their stored JSON ``input_json``
    (``{"args": [...], "kwargs": {...}}``, already built to record the call).

    The JSON itself is hashed unless it may hold a dict whose key order could differ for
    equal values (two kwargs, or any object besides the wrapper, the ``$tuple`` tag of the
    positional arguments and ``kwargs``): then it is re-encoded with sorted keys first. The
    choice depends only on the value, so equal arguments always agree."""
    text = input_json
    objects = 3 if text.startswith('{"args":{"$tuple":') else 2
    if len(kwargs) > 1 or text.count("{") > objects:
        text = _canonical(json.loads(text))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


STACK_LIMIT = 64 * 1024  # characters of a step's traceback kept (its end: the raise)


def error_dict(exc: BaseException, **extra: Any) -> dict[str, Any]:
    """How an exception is recorded: type, message, its traceback (``stack``; none for an
    exception that was never raised) and anything extra. The stack is cut to its end, at
    twice what ``redact_error`` keeps: small enough to pass between processes, with room
    for the redactor to see a secret whole before it cuts the rest."""
    error = {"type": type(exc).__name__, "message": str(exc), **extra}
    if exc.__traceback__ is not None:
        error["stack"] = "".join(traceback.format_exception(exc))[-2 * STACK_LIMIT:]
    return error


def redact_error(redactor: Redactor, error: dict[str, Any]) -> dict[str, Any]:
    """A step's error as the API may show it: every text through ``redactor`` (no secret,
    bounded), its stack bounded by ``STACK_LIMIT`` instead of the short error limit."""
    stack = error.get("stack")
    redacted = redactor.error({k: v for k, v in error.items() if k != "stack"})
    if isinstance(stack, str):
        redacted["stack"] = redactor.text(stack, STACK_LIMIT, keep="tail")
    return redacted

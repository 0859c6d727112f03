"""Replaying a workflow function: the ``WorkflowRuntime`` the authoring SDK calls into.

The function runs from the top on every resume. Each durable call takes the next position;
if the log has an entry there it must be the same call (else ``NonDeterministicReplayError``)
and its recorded outcome is returned; if not, the call happens now: a step runs inline and
its result is committed (fenced by the claim) before the function continues. The same call
means the same kind and name and, for a step, the same arguments (their digest; a step may
opt out with ``check_args=False``); and a function that returns must have reached every
position the log holds (``finished``). When the run must wait (sleep, hook, retry backoff,
fanned-out steps) ``Suspend`` unwinds the function; it is a ``BaseException`` so workflow
code cannot swallow it.

Cheap writes (new waits, deterministic values, completed waits) are buffered in ``pending``
and committed with the next fenced transaction: they only matter if something after them is
recorded, and that record commits them too.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from workflow_studio.authoring.api import Hook
from workflow_studio.authoring.durations import deadline_ms, seconds
from workflow_studio.authoring.errors import (
    HookConflictError,
    HookTimeoutError,
    NonDeterministicReplayError,
    StepFailedError,
)
from workflow_studio.authoring.registry import StepDef
from workflow_studio.compute import payloads
from workflow_studio.compute.clock import iso, now_ms
from workflow_studio.engine.attempts import (
    StepContext,
    log_outcome,
    run_attempt,
    wait_for_straggler,
)
from workflow_studio.engine.log import (
    Entry,
    args_digest,
    call_json,
    describe_call,
    redact_error,
)
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import hooks, queue, steps, values, waits

if TYPE_CHECKING:
    from workflow_studio.engine.runner import Execution

T = TypeVar("T")
GROUP_COMMIT_STEPS = 200
GROUP_COMMIT_SECONDS = 0.01


class StepRecord:
    """A buffered successful inline step (see ``Replay._record_success``)."""

    __slots__ = ("row", "values")

    def __init__(self, row: dict[str, Any], values: tuple[Any, ...]) -> None:
        self.row, self.values = row, values


class PreparedBatch:
    """Consecutive step records whose statements ``Replay.prepare`` already built."""

    __slots__ = ("prepared", "records")

    def __init__(self, records: list[StepRecord], prepared: steps.PreparedSteps) -> None:
        self.records, self.prepared = records, prepared


class Suspend(BaseException):
    """Unwind the workflow function: the run parks until ``wake_at`` (or an outside wake)."""

    def __init__(self, waiting: dict[str, Any], wake_at: int | None = None) -> None:
        super().__init__(waiting.get("type", "suspend"))
        self.waiting, self.wake_at = waiting, wake_at


class Replay:
    """One execution of a workflow function against its log, under one claim."""

    def __init__(self, execution: Execution, log: dict[int, Entry]) -> None:
        self.x = execution
        self.run_id: str = execution.run_id
        self.log = log
        self.last_recorded = max(log, default=0)  # the log's last position (``finished``)
        self.seq = 0
        self.pending: list[Any] = []  # callables(conn) and StepRecords, in call order
        self.interrupt: BaseException | None = None
        self.flushed_at = time.monotonic()

    # -- bookkeeping ------------------------------------------------------------------
    def _next(self, kind: str, name: str) -> tuple[int, Entry | None]:
        if self.interrupt is not None:
            raise self.interrupt  # the function caught our control-flow exception; re-raise
        self.seq += 1
        entry = self.log.get(self.seq)
        if entry is not None and (entry.kind != kind or entry.name != name):
            self.interrupt = NonDeterministicReplayError(
                f"non-deterministic replay at position {self.seq}: the workflow called "
                f"{describe_call(kind, name)} but the log recorded {entry.describe()}")
            raise self.interrupt
        return self.seq, entry

    def _diverged(self, message: str) -> NonDeterministicReplayError:
        self.interrupt = NonDeterministicReplayError(message)
        return self.interrupt

    def _check_args(self, definition: StepDef, seq: int, row: Row, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> None:
        """A recorded step must be called with the arguments it was recorded with (unless it
        opted out, or was recorded before digests existed)."""
        recorded = row.get("args_digest")
        if recorded is None or not definition.check_args:
            return
        input_json = call_json(args, kwargs, self.x.max_payload_bytes)
        if args_digest(input_json, kwargs) != recorded:
            was = row.get("input_json") or "?"
            raise self._diverged(
                f"non-deterministic replay at position {seq}: the workflow called step "
                f"{definition.name!r} with other arguments than the log recorded (now "
                f"{_cut(input_json)}, recorded {_cut(was)}); if they may change between "
                f"replays, declare the step with @step(check_args=False)")

    def finished(self) -> None:
        """The workflow function returned: it must have reached every position the log
        recorded (returning earlier means it took another path than the first execution)."""
        if self.last_recorded > self.seq:
            beyond = min(seq for seq in self.log if seq > self.seq)
            raise self._diverged(
                f"non-deterministic replay: the workflow returned after position "
                f"{self.seq} but the log recorded {self.log[beyond].describe()} at position "
                f"{beyond} (of {self.last_recorded})")

    def _suspend(self, waiting: dict[str, Any], wake_at: int | None = None) -> Suspend:
        self.interrupt = Suspend(waiting, wake_at)
        return self.interrupt

    def prepare(self) -> None:
        """Build the statements of buffered step records now, before the write transaction
        that ``flush`` runs in: SQLite has one write lock, so it should be held to execute
        statements, not to build ids and JSON."""
        if not any(isinstance(w, StepRecord) for w in self.pending):
            return
        out: list[Any] = []
        batch: list[StepRecord] = []
        for write in [*self.pending, None]:
            if isinstance(write, StepRecord):
                batch.append(write)
                continue
            if batch:
                out.append(PreparedBatch(batch, steps.prepare_completed(
                    [r.values for r in batch])))
                batch = []
            if write is not None:
                out.append(write)
        self.pending = out

    def flush(self, conn: Connection) -> None:
        """Write everything pending, in call order; runs of step records in one batch."""
        self.prepare()
        for write in self.pending:
            if isinstance(write, PreparedBatch):
                step_ids = steps.write_completed(conn, write.prepared)
                for record, step_id in zip(write.records, step_ids, strict=True):
                    record.row["id"] = step_id
            else:
                write(conn)
        self.pending.clear()
        self.flushed_at = time.monotonic()

    # -- steps ------------------------------------------------------------------------
    def call_step(self, definition: StepDef, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        seq, entry = self._next("step", definition.name)
        row = entry.row if entry else None
        if row is not None:
            self._check_args(definition, seq, row, args, kwargs)
            if row["status"] == "completed":
                return payloads.loads(row["output_json"])
            if row["status"] == "failed":
                raise StepFailedError.from_record(definition.name, json.loads(row["error_json"]))
            if row["dispatched"] and row["status"] != "retrying":
                raise self._suspend({"type": "steps", "steps": [definition.name]})
            if row["status"] == "retrying" and row["retry_at"] > now_ms():
                raise self._suspend({"type": "retry", "step": definition.name,
                                     "until": iso(row["retry_at"])}, row["retry_at"])
        if self.x.should_yield():
            raise self._suspend({"type": "yield"}, now_ms())
        return self._execute_inline(definition, seq, row, args, kwargs)

    def _execute_inline(self, definition: StepDef, seq: int, row: dict[str, Any] | None,
                        args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        input_json = digest = None
        if row is None:
            input_json = payloads.dumps({"args": args, "kwargs": kwargs}, "step arguments",
                                        self.x.max_payload_bytes)
            digest = args_digest(input_json, kwargs)
        attempt = (int(row["attempt"]) if row else 0) + 1
        context = StepContext(self.run_id, row["id"] if row else "", attempt, self.x.write_stream,
                              self.x.release_thread, self.x.max_payload_bytes)
        self.x.check_alive()  # no step starts after a cancel or a lost claim
        started_at = now_ms()
        outcome = run_attempt(definition, args, kwargs, context, self.x.step_timeout)
        if outcome.error is not None:  # recorded, and shown by the API: bounded, no secret
            outcome.error = redact_error(self.x.engine.runtime.redactor, outcome.error)
        if row is None and outcome.kind == "ok":
            return self._record_success(definition.name, seq, input_json, outcome.output_json,
                                        started_at, digest)
        with self.x.fenced() as conn:
            step = row if row is not None else steps.create(
                conn, self.run_id, seq, definition.name, input_json, args_digest=digest)
            steps.start(conn, step)
            if outcome.kind == "ok":
                steps.complete(conn, step, outcome.output_json or "null")
            elif outcome.kind == "retry":
                steps.retry(conn, step, outcome.error or {}, outcome.retry_at or now_ms())
            else:
                steps.fail(conn, step, outcome.error or {})
        self.log[seq] = Entry("step", definition.name, step)
        log_outcome(self.run_id, definition.name, attempt, outcome)
        if outcome.kind == "ok":
            return payloads.loads(outcome.output_json)
        if outcome.kind == "retry":
            retry_at = outcome.retry_at
            if outcome.straggler is not None:  # the timed-out attempt runs on: no overlap
                retry_at = wait_for_straggler(outcome, self.x.check_alive)
            raise self._suspend({"type": "retry", "step": definition.name,
                                 "until": iso(retry_at)}, retry_at)
        raise StepFailedError.from_record(definition.name, outcome.error or {})

    def _record_success(self, name: str, seq: int, input_json: str | None,
                        output_json: str | None, started_at: int,
                        digest: str | None) -> Any:
        """Group commit: successful inline steps are buffered and committed together (at
        most ``GROUP_COMMIT_STEPS`` or ``GROUP_COMMIT_SECONDS`` apart, and always before the
        run parks, finishes or writes anything else). A crash loses only uncommitted
        results, whose steps then run again: steps are at-least-once, results exactly-once.
        """
        output = output_json or "null"
        row: dict[str, Any] = {"run_id": self.run_id, "seq": seq, "step_name": name,
                               "status": "completed", "output_json": output,
                               "dispatched": 0, "attempt": 1, "args_digest": digest}
        self.pending.append(StepRecord(row, (self.run_id, seq, name, input_json, output,
                                             started_at, now_ms(), digest)))
        self.log[seq] = Entry("step", name, row)
        if (len(self.pending) >= GROUP_COMMIT_STEPS
                or time.monotonic() - self.flushed_at >= GROUP_COMMIT_SECONDS):
            with self.x.fenced():
                pass  # fenced() commits everything pending
        return payloads.loads(output)

    def call_parallel(self, calls: list[tuple[StepDef, tuple[Any, ...], dict[str, Any]]]
                      ) -> list[Any]:
        positions = [self._next("step", d.name) for d, _, _ in calls]
        missing = []
        for (seq, entry), (definition, args, kwargs) in zip(positions, calls, strict=True):
            if entry is None:
                missing.append((seq, definition, args, kwargs))
            else:
                self._check_args(definition, seq, entry.row, args, kwargs)
        if missing:
            inputs = [payloads.dumps({"args": args, "kwargs": kwargs}, "step arguments",
                                     self.x.max_payload_bytes) for _, _, args, kwargs in missing]
            digests = [args_digest(text, kwargs)
                       for text, (_, _, _, kwargs) in zip(inputs, missing, strict=True)]
            with self.x.fenced() as conn:
                for (seq, definition, _, _), input_json, digest in zip(
                        missing, inputs, digests, strict=True):
                    row = steps.create(conn, self.run_id, seq, definition.name, input_json,
                                       dispatched=True, args_digest=digest)
                    self.log[seq] = Entry("step", definition.name, row)
                    queue.enqueue_step(conn, self.run_id, seq, self.x.deployment_id,
                                       self.x.concurrency_limit)
            self.x.notify(len(missing))
        rows = [self.log[seq].row for seq, _ in positions]
        waiting = [r["step_name"] for r in rows if r["status"] not in steps.FINAL]
        if waiting:
            raise self._suspend({"type": "steps", "steps": waiting})
        for row in rows:
            if row["status"] == "failed":
                raise StepFailedError.from_record(row["step_name"], json.loads(row["error_json"]))
        return [payloads.loads(r["output_json"]) for r in rows]

    # -- sleep ------------------------------------------------------------------------
    def sleep(self, duration: Any) -> None:
        seq, entry = self._next("wait", "sleep")
        if entry is None:
            row: dict[str, Any] = {"id": None, "run_id": self.run_id, "seq": seq,
                                   "status": "waiting",
                                   "resume_at": deadline_ms(duration, now_ms())}

            def create(conn: Connection, row: dict[str, Any] = row) -> None:
                row.update(waits.create(conn, self.run_id, seq, row["resume_at"]))
            self.pending.append(create)
            entry = self.log[seq] = Entry("wait", "sleep", row)
        row = entry.row
        if row["status"] == "completed":
            return
        if row["resume_at"] > now_ms():
            raise self._suspend({"type": "sleep", "until": iso(row["resume_at"])},
                                row["resume_at"])
        self.pending.append(lambda conn: waits.complete(conn, row))
        row["status"] = "completed"

    # -- hooks ------------------------------------------------------------------------
    def create_hook(self, token: str | None, metadata: Any) -> Hook:
        seq, entry = self._next("hook", "hook")
        if entry is None:
            chosen = token or secrets.token_urlsafe(18)
            payloads.dumps(metadata, "hook metadata", self.x.max_payload_bytes)  # storable?
            metadata_value = payloads.to_jsonable(metadata, "hook metadata")
            with self.x.fenced() as conn:
                row = hooks.create(conn, self.run_id, seq, chosen, metadata_value)
            entry = self.log[seq] = Entry("hook", "hook", row)
        row = entry.row
        if row["status"] == "conflict":
            raise HookConflictError(f"hook token {row['token']!r} is already in use by a "
                                    "live hook")
        return Hook(self, row["id"], row["token"], seq)

    def webhook_url(self, token: str) -> str | None:
        build = self.x.engine.runtime.hook_url
        return build(token) if build is not None else None

    def hook_wait(self, hook: Hook, timeout: Any = None) -> Any:
        if self.interrupt is not None:
            raise self.interrupt
        row = self.log[hook.seq].row
        if row["status"] == "received":
            return payloads.loads(row["payload_json"])
        if row.get("disposed_at"):
            raise HookTimeoutError(f"hook {hook.token!r} timed out before a payload arrived")
        if timeout is not None and row["timeout_at"] is None:
            timeout_at = row["timeout_at"] = now_ms() + int(seconds(timeout) * 1000)
            self.pending.append(lambda conn: hooks.set_timeout(conn, row["id"], timeout_at))
        if row["timeout_at"] is not None and row["timeout_at"] <= now_ms():
            with self.x.fenced() as conn:
                fresh = hooks.get(conn, row["id"]) or row
                if fresh["status"] != "received":
                    hooks.dispose(conn, fresh)
            row.update(fresh)
            if fresh["status"] == "received":
                return payloads.loads(fresh["payload_json"])
            raise HookTimeoutError(f"hook {hook.token!r} timed out before a payload arrived")
        raise self._suspend({"type": "hook", "token": row["token"],
                             "until": iso(row["timeout_at"])}, row["timeout_at"])

    # -- deterministic values ---------------------------------------------------------
    def record_value(self, kind: str, produce: Callable[[], T]) -> T:
        seq, entry = self._next("value", kind)
        if entry is not None:  # recorded by the same call (else _next raised): a T
            return cast(T, payloads.loads(entry.row["value_json"]))
        value = produce()
        value_json = payloads.dumps(value, kind, self.x.max_payload_bytes)
        self.pending.append(lambda conn: values.record(conn, self.run_id, seq, kind, value_json))
        self.log[seq] = Entry("value", kind, {"seq": seq, "kind": kind, "value_json": value_json})
        return value


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."

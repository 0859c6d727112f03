"""Processing one claimed queue message: replay a run, or run one fanned-out step.

Every write goes through ``Execution.fenced()``: a write transaction that first checks the
claim is still ours (``LeaseLost`` otherwise) and that the run is not finished (``RunEnded``,
e.g. cancelled meanwhile). Both are ``BaseException`` so workflow code cannot swallow them.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from workflow_studio.authoring.context import running_workflow
from workflow_studio.authoring.errors import NonDeterministicReplayError, StepFailedError
from workflow_studio.compute import payloads
from workflow_studio.compute.clock import now_ms
from workflow_studio.compute.errors import RunErrorCode
from workflow_studio.engine import log as replay_log
from workflow_studio.engine.attempts import StepContext, run_attempt
from workflow_studio.engine.replay import Replay, Suspend
from workflow_studio.storage.base import Connection, Row
from workflow_studio.storage.world import (
    TERMINAL_RUN_STATUSES,
    hooks,
    queue,
    runs,
    steps,
)

if TYPE_CHECKING:
    from workflow_studio.engine.executor import Executor

log = logging.getLogger("workflow_studio.engine")
ALIVE_CHECK_INTERVAL = 0.002  # seconds; see Execution.check_alive
MAX_CLAIMS = 25  # a message claimed this often without finishing crashes its process


class LeaseLost(BaseException):
    """Our claim was released or taken over; stop without writing anything."""


class RunEnded(BaseException):
    """The run reached a terminal state (e.g. cancelled) while we worked on it."""


class Execution:
    """The engine side of one claimed message (what ``Replay`` calls back into)."""

    def __init__(self, engine: Executor, conn: Connection, message: Row, run: Row,
                 yield_at: float | None = None) -> None:
        self.engine, self.conn, self.message = engine, conn, message
        self.yield_at = yield_at
        self.alive_at = float("-inf")  # when the claim and the run were last seen alive
        self.run_id: str = run["id"]
        self.deployment_id: str = run["deployment_id"]
        self.concurrency_limit: int | None = message["concurrency_limit"]
        self.step_timeout: float | None = engine.step_timeout(self.deployment_id)
        self.replay: Replay | None = None
        self.ended: Row | None = None  # the run's row, once this execution ended it

    def _fence(self, conn: Connection) -> None:
        """First thing in a write transaction: the claim is still ours and the run not over
        (else ``LeaseLost`` / ``RunEnded``); then write what the replay buffered."""
        status = queue.fence(conn, self.message["id"], self.message["claim_token"],
                             self.run_id)
        if status is None:
            raise LeaseLost(self.message["id"])
        if status in TERMINAL_RUN_STATUSES:
            raise RunEnded(status)
        self.alive_at = time.monotonic()
        if self.replay is not None:
            self.replay.flush(conn)

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A lost claim or an ended run also interrupts the replay (workflow code that
        catches the exception cannot carry on)."""
        try:
            yield
        except (LeaseLost, RunEnded) as exc:
            if self.replay is not None:
                self.replay.interrupt = exc
            raise

    @contextmanager
    def fenced(self) -> Iterator[Connection]:
        if self.replay is not None:
            self.replay.prepare()  # ids and JSON built before the write lock is taken
        with self._interruptible(), self.conn.transaction():
            self._fence(self.conn)
            yield self.conn

    def commit(self, write: Callable[[Connection], Any]) -> Any:
        """``fenced`` for a run's closing write (finish, fail, park): ``write(conn)`` runs
        on the connection it is given, possibly in one commit with other runs' closing
        writes (``group_commit``), and returns once that commit is durable."""
        if self.replay is not None:
            self.replay.prepare()

        def unit(conn: Connection) -> Any:
            self._fence(conn)
            return write(conn)

        with self._interruptible():
            return self.engine.runtime.committer.run(unit)

    def check_alive(self) -> None:
        """Before a step starts: stop if the claim was lost or the run ended (cancelled).

        The look is skipped when the last one (or the last fenced write) is under
        ``ALIVE_CHECK_INTERVAL`` old: a burst of short steps costs one read, not one per
        step, and a cancel still stops the run within that interval (the same order as a
        thread waiting for the GIL between the look and the step)."""
        if time.monotonic() - self.alive_at < ALIVE_CHECK_INTERVAL:
            return
        status = queue.claim_status(self.conn, self.message["id"],
                                    self.message["claim_token"], self.run_id)
        self.alive_at = time.monotonic()
        exc: LeaseLost | RunEnded | None = None
        if status is None:
            exc = LeaseLost(self.message["id"])
        elif status in TERMINAL_RUN_STATUSES:
            exc = RunEnded(status)
        if exc is not None:
            if self.replay is not None:
                self.replay.interrupt = exc
            raise exc

    def should_yield(self) -> bool:
        return bool(self.engine.stopping) or (
            self.yield_at is not None and time.monotonic() >= self.yield_at)

    def notify(self, count: int = 1) -> None:
        self.engine.wake(count)

    def write_stream(self, run_id: str, name: str, data: Any, close: bool) -> None:
        self.engine.write_stream(run_id, name, data, close)

    def release_thread(self) -> None:
        self.engine.db.release_thread()


def process(engine: Executor, conn: Connection, message: Row, run: Row | None = None,
            yield_at: float | None = None) -> Row | None:
    """Do the work of ``message`` (claimed by us); never raises for workflow errors.
    Returns the run's row if this ended the run (completed or failed), else None.

    ``run``: the run's row when the caller just created it, already claimed (so its log
    is empty, and the claim and the run were alive a moment ago).
    ``yield_at``: a monotonic time after which the run yields at its next step boundary.
    """
    fresh = run is not None
    if run is None:
        run = runs.get(conn, message["run_id"])
    if run is None or run["status"] in TERMINAL_RUN_STATUSES:
        with conn.transaction():
            if queue.holds(conn, message["id"], message["claim_token"]):
                queue.delete(conn, message["id"])
        return None
    execution = Execution(engine, conn, message, run, yield_at)
    if fresh:
        execution.alive_at = time.monotonic()
    try:
        if message["claims"] > MAX_CLAIMS:
            _fail(execution, {"code": RunErrorCode.CRASH_LOOP, "type": "CrashLoop", "message":
                              f"claimed {message['claims']} times without finishing; the "
                              "process running it keeps dying"})
        elif message["kind"] == "step":
            _process_step(engine, execution, run, message)
        else:
            _process_run(engine, execution, run, fresh)
    except LeaseLost:
        log.warning("lease lost on %s (run %s); another executor owns it now",
                    message["id"], run["id"])
    except RunEnded:
        with conn.transaction():
            if queue.holds(conn, message["id"], message["claim_token"]):
                queue.delete(conn, message["id"])
    engine.run_changed()
    engine.runtime.run_changed(run["id"])
    return execution.ended


def _finish_run(execution: Execution, conn: Connection) -> None:
    """Free the run's hook tokens and its message (before the terminal event, which is the
    last event of every run)."""
    replay = execution.replay
    # The log holds every hook the run ever made: without one there is nothing to free.
    if replay is None or any(entry.kind == "hook" for entry in replay.log.values()):
        hooks.dispose_for_run(conn, execution.run_id)
    queue.delete(conn, execution.message["id"])


def _fail(execution: Execution, error: dict[str, Any]) -> None:
    def write(conn: Connection) -> None:
        _finish_run(execution, conn)
        execution.ended = runs.fail(conn, execution.run_id, error)
    execution.commit(write)


def _process_run(engine: Executor, execution: Execution, run: Row, fresh: bool = False) -> None:
    try:
        registry = engine.resolve_registry(run["deployment_id"])
    except Exception as exc:
        log.exception("cannot load deployment %s for run %s", run["deployment_id"], run["id"])
        _fail(execution, {"code": RunErrorCode.DEPLOYMENT_UNAVAILABLE, "type": type(exc).__name__,
                          "message": f"cannot load deployment {run['deployment_id']}: {exc}"})
        return
    definition = registry.workflows.get(run["workflow_name"])
    if definition is None:
        _fail(execution, {"code": RunErrorCode.UNKNOWN_WORKFLOW, "type": "UnknownWorkflow",
                          "message": f"deployment {run['deployment_id']} has no workflow "
                                     f"{run['workflow_name']!r}"})
        return
    replay = Replay(execution, {} if fresh else replay_log.load(execution.conn, run["id"]))
    execution.replay = replay
    inputs = payloads.loads(run["input_json"]) or {}
    try:
        with running_workflow(replay):
            result = definition.fn(*inputs.get("args", ()), **inputs.get("kwargs", {}))
        if replay.interrupt is not None:
            raise replay.interrupt  # workflow code caught our control flow and carried on
    except Suspend as suspend:
        execution.replay.interrupt = None

        def park(conn: Connection, waiting: dict[str, Any] = suspend.waiting,
                 wake_at: int | None = suspend.wake_at) -> None:
            if waiting.get("type") != "yield":
                runs.set_waiting(conn, run["id"], waiting)
            queue.finish(conn, execution.message["id"], execution.message["claim_token"],
                         wake_at)
        execution.commit(park)
        engine.timer_set(suspend.wake_at)
        return
    except NonDeterministicReplayError as exc:
        replay.interrupt = None
        _fail(execution, {"code": RunErrorCode.NONDETERMINISTIC_REPLAY, "type": type(exc).__name__,
                          "message": str(exc)})
        return
    except StepFailedError as exc:
        replay.interrupt = None
        _fail(execution, {"code": RunErrorCode.STEP_FAILED, "type": type(exc).__name__,
                          "message": str(exc), "step": exc.step_name,
                          "errorType": exc.error_type})
        return
    except (LeaseLost, RunEnded):
        raise
    except (Exception, KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
        # SystemExit from workflow code fails the run; it must not end the executor slot.
        replay.interrupt = None
        _fail(execution, {"code": RunErrorCode.WORKFLOW_ERROR, "type": type(exc).__name__,
                          "message": str(exc), "stack": traceback.format_exc(limit=20)})
        return
    try:
        output_json = payloads.dumps(result, "workflow return value")
    except payloads.PayloadError as exc:
        _fail(execution, {"code": RunErrorCode.INVALID_OUTPUT, "type": "PayloadError",
                          "message": f"workflow {run['workflow_name']!r} returned a value "
                                     f"that cannot be stored: {exc}"})
        return
    def finish(conn: Connection) -> None:
        _finish_run(execution, conn)
        execution.ended = runs.complete(conn, run["id"], output_json)
    execution.commit(finish)


def _process_step(engine: Executor, execution: Execution, run: Row, message: Row) -> None:
    conn = execution.conn
    step = steps.get(conn, run["id"], message["step_seq"])
    token = message["claim_token"]
    if step is None or step["status"] in steps.FINAL:
        with execution.fenced():
            queue.enqueue_run(conn, run["id"], run["deployment_id"],
                              message["concurrency_limit"])
            queue.delete(conn, message["id"])
        engine.wake(1)
        return
    if step["status"] == "retrying" and (step["retry_at"] or 0) > now_ms():
        with execution.fenced():
            queue.finish(conn, message["id"], token, step["retry_at"])
        engine.timer_set(step["retry_at"])
        return
    try:
        definition = engine.resolve_registry(run["deployment_id"]).steps.get(step["step_name"])
    except Exception:
        log.exception("cannot load deployment %s for step %s", run["deployment_id"], step["id"])
        definition = None
    inputs = payloads.loads(step["input_json"]) or {}
    context = StepContext(run["id"], step["id"], int(step["attempt"]) + 1,
                          execution.write_stream, execution.release_thread)
    if definition is None:
        error = {"type": "UnknownStep", "message": f"deployment {run['deployment_id']} has no "
                 f"step {step['step_name']!r}"}
        outcome_kind, outcome = "fatal", None
    else:
        outcome = run_attempt(definition, tuple(inputs.get("args", ())),
                              inputs.get("kwargs", {}), context, execution.step_timeout)
        outcome_kind, error = outcome.kind, outcome.error or {}
    with execution.fenced():
        steps.start(conn, step)
        if outcome_kind == "ok" and outcome is not None:
            steps.complete(conn, step, outcome.output_json or "null")
        elif outcome_kind == "retry" and outcome is not None:
            steps.retry(conn, step, error, outcome.retry_at or now_ms())
            queue.finish(conn, message["id"], token, outcome.retry_at)
        else:
            steps.fail(conn, step, error)
        if outcome_kind != "retry":
            queue.enqueue_run(conn, run["id"], run["deployment_id"],
                              message["concurrency_limit"])
            queue.delete(conn, message["id"])
    if outcome_kind == "retry" and outcome is not None:
        engine.timer_set(outcome.retry_at)
        return
    engine.wake(1)

"""Processing one claimed queue message: replay a run, or run one fanned-out step.

Every write goes through ``Execution.fenced()``: a write transaction that first checks the
claim is still ours (``LeaseLost`` otherwise) and that the run is not finished (``RunEnded``,
e.g. cancelled meanwhile). Both are ``BaseException`` so workflow code cannot swallow them.

What a run waits on (``waiting_json``) is written when it parks and cleared by the claim that
resumes it (``runs.mark_started``), so it never outlives the wait. The engine logs (logger
``workflow_studio.engine``) one line per run failure (non-determinism included), step retry,
step failure, timeout and recovery (a message whose previous claim never ended: its owner
died or its lease expired); nothing for what succeeds.
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
from workflow_studio.compute.clock import iso, now_ms
from workflow_studio.compute.errors import RunErrorCode
from workflow_studio.engine import log as replay_log
from workflow_studio.engine.attempts import (
    StepContext,
    log_outcome,
    run_attempt,
    wait_for_straggler,
)
from workflow_studio.engine.log import redact_error
from workflow_studio.engine.replay import Replay, Suspend
from workflow_studio.storage.base import Connection, DatabaseUnavailable, Row
from workflow_studio.storage.world import (
    TERMINAL_RUN_STATUSES,
    hooks,
    queue,
    runs,
    steps,
)

if TYPE_CHECKING:
    from workflow_studio.authoring.registry import Registry
    from workflow_studio.engine.executor import Executor

log = logging.getLogger("workflow_studio.engine")
ALIVE_CHECK_INTERVAL = 0.002  # seconds; see Execution.check_alive
MAX_CLAIMS = 25  # a message claimed this often without finishing crashes its process


class LeaseLost(BaseException):
    """Our claim was released or taken over; stop without writing anything."""


class RunEnded(BaseException):
    """The run reached a terminal state (e.g. cancelled) while we worked on it."""


class CodeUnavailable(Exception):
    """The executor's ``resolve_registry`` cannot give a run's code (a deployment that does
    not load). ``permanent``: it never will (the code does not import, lacks the workflow):
    the run fails with ``deployment_unavailable``. Any other failure to load (this class
    with ``permanent=False``, a ``DatabaseUnavailable``, an ``OSError``...) is transient: the
    claim is released with a backoff and the run waits (``waitingOn`` ``executor``)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def _load(engine: Executor, execution: Execution, run: Row) -> Registry | None:
    """The run's code, or None when it cannot be had now: a transient failure released
    the claim with a backoff, a permanent one raises ``CodeUnavailable``."""
    deployment = run["deployment_id"]
    try:
        registry = engine.resolve_registry(deployment)
    except Exception as exc:
        if isinstance(exc, CodeUnavailable) and exc.permanent:
            log.error("cannot load deployment %s for run %s: %s", deployment, run["id"], exc)
            raise
        delay = engine.load_failed(deployment)
        log.warning("cannot load deployment %s for run %s (%s: %s); retrying in %.1fs",
                    deployment, run["id"], type(exc).__name__, exc, delay)
        retry_at = now_ms() + int(delay * 1000)
        reason = f"cannot load deployment {deployment}: {type(exc).__name__}: {exc}"
        waiting = {"type": "executor", "workflow": run["workflow_name"],
                   "deploymentId": deployment, "retryAt": iso(retry_at),
                   "error": engine.runtime.redactor.text(reason, 500)}  # the API shows it
        with execution.fenced() as conn:
            runs.set_waiting(conn, run["id"], waiting)
            queue.release(conn, execution.message["id"], execution.message["claim_token"],
                          retry_at)
        engine.timer_set(retry_at)
        return None
    engine.load_succeeded(deployment)
    return registry


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
        self.max_payload_bytes: int = engine.runtime.max_payload_bytes

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
        """A lost claim, an ended run or a database that cannot take the write now also
        interrupts the replay (workflow code that catches the exception cannot carry on)."""
        try:
            yield
        except (LeaseLost, RunEnded, DatabaseUnavailable) as exc:
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
    # The API shows it (e.g. an import error of deployed code): bounded, no secret in it.
    error = execution.engine.runtime.redactor.error(error)
    log.error("run %s failed: %s: %s", execution.run_id, error.get("code"),
              error.get("message"))

    def write(conn: Connection) -> None:
        _finish_run(execution, conn)
        execution.ended = runs.fail(conn, execution.run_id, error)
    execution.commit(write)


def _recovered(message: Row) -> bool:
    """Whether the message's previous claim never ended (its owner died, or its lease ran
    out): a finished or released claim resets the count (``queue.finish``/``release``)."""
    return int(message["claims"]) > 1


def _process_run(engine: Executor, execution: Execution, run: Row, fresh: bool = False) -> None:
    try:
        registry = _load(engine, execution, run)
    except CodeUnavailable as exc:
        _fail(execution, {"code": RunErrorCode.DEPLOYMENT_UNAVAILABLE, "type": type(exc).__name__,
                          "message": f"cannot load deployment {run['deployment_id']}: {exc}"})
        return
    if registry is None:
        return
    definition = registry.workflows.get(run["workflow_name"])
    if definition is None:
        _fail(execution, {"code": RunErrorCode.UNKNOWN_WORKFLOW, "type": "UnknownWorkflow",
                          "message": f"deployment {run['deployment_id']} has no workflow "
                                     f"{run['workflow_name']!r}"})
        return
    replay = Replay(execution, {} if fresh else replay_log.load(execution.conn, run["id"]))
    execution.replay = replay
    if _recovered(execution.message):
        log.warning("run %s recovered from a claim that never ended (its owner died or its "
                    "lease expired; claim %d): replaying %d recorded calls, anything after "
                    "position %d runs again", run["id"], execution.message["claims"],
                    len(replay.log), replay.last_recorded)
    inputs = payloads.loads(run["input_json"]) or {}
    try:
        with running_workflow(replay):
            result = definition.fn(*inputs.get("args", ()), **inputs.get("kwargs", {}))
        if replay.interrupt is not None:
            raise replay.interrupt  # workflow code caught our control flow and carried on
        replay.finished()
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
    except (LeaseLost, RunEnded, DatabaseUnavailable):
        raise  # busy or down: the executor gives the claim back and the run resumes later
    except (Exception, KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
        # SystemExit from workflow code fails the run; it must not end the executor slot.
        replay.interrupt = None
        _fail(execution, {"code": RunErrorCode.WORKFLOW_ERROR, "type": type(exc).__name__,
                          "message": str(exc), "stack": traceback.format_exc(limit=20)})
        return
    try:
        output_json = payloads.dumps(result, "workflow return value",
                                     execution.max_payload_bytes)
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
    if _recovered(message):
        log.warning("run %s step %r attempt %d recovered from a claim that never ended (its "
                    "owner died or its lease expired; claim %d): the attempt runs again",
                    run["id"], step["step_name"], int(step["attempt"]) + 1, message["claims"])
    load_error = None
    try:
        registry = _load(engine, execution, run)
    except CodeUnavailable as exc:
        registry, load_error = None, exc
    else:
        if registry is None:
            return  # released, to be retried
    definition = registry.steps.get(step["step_name"]) if registry is not None else None
    inputs = payloads.loads(step["input_json"]) or {}
    context = StepContext(run["id"], step["id"], int(step["attempt"]) + 1,
                          execution.write_stream, execution.release_thread,
                          execution.max_payload_bytes)
    if load_error is not None:
        error = {"type": type(load_error).__name__, "message": f"cannot load deployment "
                 f"{run['deployment_id']}: {load_error}"}
        outcome_kind, outcome = "fatal", None
    elif definition is None:
        error = {"type": "UnknownStep", "message": f"deployment {run['deployment_id']} has no "
                 f"step {step['step_name']!r}"}
        outcome_kind, outcome = "fatal", None
    else:
        outcome = run_attempt(definition, tuple(inputs.get("args", ())),
                              inputs.get("kwargs", {}), context, execution.step_timeout)
        outcome_kind = outcome.kind
        if outcome.error is not None:  # recorded, and shown by the API: bounded, no secret
            outcome.error = redact_error(engine.runtime.redactor, outcome.error)
        error = outcome.error or {}
    with execution.fenced():
        steps.start(conn, step)
        if outcome_kind == "ok" and outcome is not None:
            steps.complete(conn, step, outcome.output_json or "null")
        elif outcome_kind == "retry" and outcome is not None:
            steps.retry(conn, step, error, outcome.retry_at or now_ms())
            if outcome.straggler is None:  # else the claim is held until it returned
                queue.finish(conn, message["id"], token, outcome.retry_at)
        else:
            steps.fail(conn, step, error)
        if outcome_kind != "retry":
            queue.enqueue_run(conn, run["id"], run["deployment_id"],
                              message["concurrency_limit"])
            queue.delete(conn, message["id"])
    if outcome is None:
        log.error("run %s step %r attempt %d failed (%s: %s); not retried", run["id"],
                  step["step_name"], context.attempt, error["type"], error["message"])
    else:
        log_outcome(run["id"], step["step_name"], context.attempt, outcome)
    if outcome_kind == "retry" and outcome is not None:
        retry_at = outcome.retry_at
        if outcome.straggler is not None:  # the timed-out attempt runs on: no overlap
            retry_at = wait_for_straggler(outcome, execution.check_alive)
            with execution.fenced():
                queue.finish(conn, message["id"], token, retry_at)
        engine.timer_set(retry_at)
        return
    engine.wake(1)

"""Step attempts in a child process (``@step(isolation="process")``), killed at the timeout.

Each attempt runs in a fresh interpreter started with ``multiprocessing``'s ``spawn`` context.
When the body overruns its timeout the parent kills the child (SIGKILL) and waits for it to
be gone before the timeout is recorded, so the next attempt can never overlap it and nothing
the killed attempt did after its deadline reaches the run.

Why spawn and not fork: the executor's process is threaded (slots, heartbeat, listener,
gunicorn's request threads), and a child forked from a threaded process inherits whatever
locks the other threads held at that instant (logging, imports, database drivers, malloc),
which can deadlock it. A spawned child imports what it needs afresh, so:

- it imports the step's module by name, with that module's source root first on
  ``sys.path``: that is how it finds a deployment's code, which the worker's loader keeps out
  of ``sys.path`` and ``sys.modules`` (``worker/deployments/loader.py``); then it looks the
  step up by its registered name. A process step must therefore be defined at module level
  of an importable module (in a script, the script's own code must sit under
  ``if __name__ == "__main__":``, as ``multiprocessing`` requires);
- its arguments travel pickled (payload values always pickle), the return value is encoded
  in the child, and stream chunks are pickled to the parent, which writes them itself
  (a write waits for the parent's answer, so errors surface where the chunk was written);
- every attempt costs a new interpreter and the module's imports (~0.1-0.3 s): meant for
  long or misbehaving steps, not for many tiny ones. The timeout counts from the moment the
  child starts the body; start-up is bounded on its own by ``STARTUP_LIMIT``.

A child that dies in the body (a crash, ``os._exit``, the OOM killer) fails the attempt
with ``StepProcessError``, retried like any error; one that cannot load the step (it is not
importable in a fresh process) fails the step at once (``StepUnavailable``). The child
ignores SIGINT (a Ctrl-C in a terminal reaches the whole process group; the executor decides
what happens) and dies with its parent (``PR_SET_PDEATHSIG`` on Linux, a watchdog thread
elsewhere), so a killed executor leaves no attempt running.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from workflow_studio.authoring.errors import StepTimeoutError
from workflow_studio.authoring.registry import StepDef, seen
from workflow_studio.compute import payloads
from workflow_studio.engine.attempts import (
    Outcome,
    StepContext,
    outcome_of_error,
    run_here,
)

log = logging.getLogger("workflow_studio.engine")
STARTUP_LIMIT = 60.0  # seconds a child may take to import the step before it is killed
EXIT_GRACE = 1.0  # seconds a child that sent its outcome gets to exit before it is killed
_PR_SET_PDEATHSIG = 1


class StepProcessError(Exception):
    """A process attempt's child died before it returned (a crash, ``os._exit``, a kill)."""


def run_in_process(definition: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
                   context: StepContext, timeout: float | None) -> Outcome:
    """One attempt of ``definition`` in a child process; returns once the child is gone."""
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    child = spawn.Process(
        target=child_main, name=f"step-{definition.name}", daemon=True,
        args=(theirs, os.getpid(), _source_root(definition), definition.module,
              definition.name, args, kwargs, context.run_id, context.step_id,
              context.attempt, context.max_payload_bytes))
    try:
        child.start()
    except Exception as exc:
        ours.close()
        theirs.close()
        return outcome_of_error(definition, context.attempt, exc)
    theirs.close()
    try:
        outcome, answered = _supervise(definition, context, ours, child, timeout)
        if answered:
            child.join(EXIT_GRACE)  # let it exit on its own (else it is killed below)
        return outcome
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        ours.close()
        child.close()


def _supervise(definition: StepDef, context: StepContext, conn: Connection,
               child: BaseProcess, timeout: float | None) -> tuple[Outcome, bool]:
    """Serve the child's messages until it answers with its outcome (then ``True``), dies
    or overruns its deadline (``False``: the caller kills it)."""
    deadline: float | None = time.monotonic() + STARTUP_LIMIT
    started = False
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not conn.poll(left):
                return _overran(definition, context, started, timeout, child.pid), False
        try:
            message = conn.recv()
        except EOFError:
            child.join(EXIT_GRACE)
            code = child.exitcode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else (
                f"exited with code {code}")
            if not started:  # it could not even import the step: the same on every try
                return Outcome("fatal", error={
                    "type": "StepUnavailable", "attempts": context.attempt,
                    "message": f"the process for step {definition.name!r} (isolation="
                               f"'process') {how} while starting; its stderr says why"}), False
            error = StepProcessError(f"the process running step {definition.name!r} {how} "
                                     "before the step returned")
            return outcome_of_error(definition, context.attempt, error), False
        except Exception as exc:  # e.g. a chunk of a class only the child can import
            conn.send(("error", type(exc).__name__, f"the executor cannot read this value: "
                       f"{exc}", True))
            continue
        kind = message[0]
        if kind == "started":
            started = True
            deadline = time.monotonic() + timeout if timeout else None
        elif kind == "stream":  # only served before the deadline: a late write never lands
            conn.send(_write(context, *message[1:]))
        elif kind == "outcome":
            outcome: Outcome = message[1]
            return outcome, True
        else:  # "unavailable": the step cannot be loaded in a fresh process
            return Outcome("fatal", error={"type": "StepUnavailable", "message": message[1],
                                           "attempts": context.attempt}), True


def _overran(definition: StepDef, context: StepContext, started: bool,
             timeout: float | None, pid: int | None) -> Outcome:
    log.warning("run %s step %r attempt %d timed out after %s; its process %s is killed",
                context.run_id, definition.name, context.attempt,
                f"{timeout}s" if started else f"{STARTUP_LIMIT}s while starting", pid)
    if started:
        error = StepTimeoutError(f"step {definition.name!r} exceeded its timeout of "
                                 f"{timeout}s; its process was killed")
    else:
        error = StepTimeoutError(f"the process for step {definition.name!r} did not start "
                                 f"within {STARTUP_LIMIT}s; it was killed")
    return outcome_of_error(definition, context.attempt, error)


def _write(context: StepContext, name: str, data: Any, close: bool) -> tuple[Any, ...]:
    try:
        context.write_stream(name, data, close)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc), isinstance(exc, payloads.PayloadError))
    return ("ok",)


def _source_root(definition: StepDef) -> str | None:
    """The ``sys.path`` entry the step's module was imported from (None for ``__main__``,
    which ``spawn`` itself re-imports)."""
    module = definition.module
    file = getattr(definition.fn, "__globals__", {}).get("__file__")
    if not file or module in ("__main__", "__mp_main__"):
        return None
    path = Path(file).resolve()
    depth = module.count(".") + (1 if path.stem == "__init__" else 0)
    return str(path.parents[depth]) if depth < len(path.parents) else None


# -- in the child ----------------------------------------------------------------------------
class _ChildRuntime:
    """The child's ``StepRuntime``: stream writes go to the parent, one at a time."""

    def __init__(self, conn: Connection, run_id: str, step_id: str, attempt: int) -> None:
        self.conn, self.run_id, self.step_id, self.attempt = conn, run_id, step_id, attempt
        self._lock = threading.Lock()

    def write_stream(self, name: str, data: Any, close: bool) -> None:
        with self._lock:
            self.conn.send(("stream", name, data, close))
            answer = self.conn.recv()
        if answer[0] == "error":
            _, kind, message, payload_error = answer
            if kind == StepTimeoutError.__name__:
                raise StepTimeoutError(message)
            if payload_error:
                raise payloads.PayloadError(message)
            raise RuntimeError(f"stream {name!r}: {kind}: {message}")


def child_main(conn: Connection, parent_pid: int, root: str | None, module: str, name: str,
               args: tuple[Any, ...], kwargs: dict[str, Any], run_id: str, step_id: str,
               attempt: int, max_payload_bytes: int | None) -> None:
    """The child's entry point (``spawn`` pickles it by name)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    multiprocessing.current_process().daemon = False  # the step may start processes itself
    try:
        definition = _load(root, module, name)
    except Exception as exc:
        conn.send(("unavailable", f"step {name!r} (isolation='process') cannot be loaded in "
                   f"a fresh process from module {module!r}: {type(exc).__name__}: {exc}"))
        return
    conn.send(("started",))
    outcome = run_here(definition, args, kwargs, _ChildRuntime(conn, run_id, step_id, attempt),
                       max_payload_bytes)
    conn.send(("outcome", outcome))


def _load(root: str | None, module: str, name: str) -> StepDef:
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    if module not in ("__main__", "__mp_main__"):  # spawn re-imported the main module
        importlib.import_module(module)
    definition = seen().steps.get(name)
    if definition is None:
        raise LookupError(f"importing {module!r} does not register a step {name!r}: a "
                          "process step must be defined at module level")
    return definition


def _die_with_parent(parent_pid: int) -> None:
    """Exit when the executor process that started us exits, however it exits."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # it died before we were armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.1)
            os._exit(1)
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()

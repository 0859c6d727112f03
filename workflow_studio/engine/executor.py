"""Executor slots: threads in one process that claim queue messages and process them.

Claims are atomic (``BEGIN IMMEDIATE``) and recorded with the owner (node, pid) and a lease
that one heartbeat thread per process extends; gunicorn's ``child_exit`` releases a dead
process's claims at once, lease expiry covers a dead machine. The heartbeat also releases,
when it starts and once a beat, the claims of processes of this machine that are certainly
dead (``owners``: killed, or exited without releasing), so a restarted process resumes their
runs at once. ``stop`` releases what is still held.

An executor given ``runnable`` (the local world: the workflows its process registered)
claims only messages of runs of those workflows; the others are left for a process that can
run them (``queue.claim``). A worker's executor claims everything and loads each run's
deployment; one it cannot load for a transient reason is released with a backoff
(``load_failed``), see ``runner``.

Wake-ups: inside a process, ``wake()`` (a trigger, a resume, a finished fan-out step)
signals a condition variable, so an idle slot starts at once; when the process has no idle
slot it rings its peers' doorbells (``wakeups``: a Unix datagram socket per process, which
costs nothing to wait on). Timers (a sleep ending, a retry, a hook timeout, a lease expiring)
bound the heartbeat's wait, so they fire on time; a safety poll every
``SAFETY_POLL`` s looks at the queue in case a bell was missed.

On PostgreSQL (many processes on many machines) the doorbells are LISTEN/NOTIFY
(``notify.py``): every enqueue notifies at commit and each process's listener wakes its idle
slots, on every node. While the listener is connected the safety poll slows to
``PG_SAFETY_POLL``; while it is not, the poll is the fallback.

A slot whose claim fails because the database is unavailable or busy (a lock held past
``lock_timeout``: nothing was claimed) backs off, doubling from ``CLAIM_RETRY_FIRST`` up to
``CLAIM_RETRY_MAX`` with jitter, instead of queueing for the lock again at the next wake-up.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from workflow_studio.authoring.registry import Registry
from workflow_studio.compute import payloads
from workflow_studio.compute.clock import now_ms
from workflow_studio.engine import runner
from workflow_studio.engine.owners import certainly_dead, node_id
from workflow_studio.engine.wakeups import WakeChannel, channel_dir
from workflow_studio.storage import Connection, DatabaseUnavailable, Row, idempotency
from workflow_studio.storage.world import queue, runs, streams

if TYPE_CHECKING:
    from workflow_studio.engine.runtime import Runtime

log = logging.getLogger("workflow_studio.engine")
SAFETY_POLL = 0.25
PG_SAFETY_POLL = 1.0  # with a connected LISTEN; leases and timers still bound the wait
PURGE_INTERVAL = 60.0  # expired idempotency keys are deleted this often (and when met)
LOAD_RETRY_FIRST = 0.5  # s: a deployment that failed to load transiently is retried after
LOAD_RETRY_MAX = 30.0  # this, doubling up to this, per failure in a row in this process
CLAIM_RETRY_FIRST = 0.05  # s: a slot whose claim failed (database busy or down) waits this,
CLAIM_RETRY_MAX = 2.0  # doubling up to this, per failure in a row, before it claims again


class Executor:
    """``slots`` worker threads plus one heartbeat/waker thread, for one process."""

    def __init__(self, runtime: Runtime, resolve_registry: Callable[[str], Registry], *,
                 slots: int = 4, lease_seconds: float = 30.0,
                 step_timeout: Callable[[str], float | None] | None = None,
                 name: str = "executor", node: str | None = None,
                 runnable: Callable[[], Collection[str]] | None = None) -> None:
        """``node``: who owns this process's claims with its pid (``node_id()``); the
        gunicorn master draws one for all its worker processes, so it can release a dead
        one's claims. ``runnable``: the names of the workflows this executor may claim runs
        of, asked at each claim (None: all)."""
        self.runtime = runtime
        self.db = db = runtime.db
        self.resolve_registry = resolve_registry
        self._step_timeout = step_timeout
        self.slots = max(1, slots)
        self.lease_ms = int(lease_seconds * 1000)
        self.name = name
        self.node = node or node_id()
        self.runnable = runnable
        self._load_failures: dict[str, int] = {}  # deployment id -> failures in a row
        self.pid = os.getpid()
        self.stopping = False
        self._halt = threading.Event()  # set by stop(): a backing-off slot stops waiting
        self._cond = threading.Condition()
        self._wakes = 0
        self._idle = 0
        self._run_cond = threading.Condition()
        self._next_timer: int | None = None
        self.bell = WakeChannel(channel_dir(db.target) if db.dialect == "sqlite" else None)
        self.listener: Any = None
        # One permit per slot, taken by a slot thread for each message it processes and by
        # a request thread that executes the run it just triggered (``execute_claimed``):
        # either way at most ``slots`` messages run in this process at once.
        self._permits = threading.BoundedSemaphore(self.slots)
        self._active: dict[str, Row] = {}
        # Claims whose processing died of DatabaseUnavailable: given back by the heartbeat
        # once the database answers again (sooner than waiting for the lease to expire).
        self._orphans: list[Row] = []
        self._threads: list[threading.Thread] = []

    # -- engine callbacks ------------------------------------------------------------
    def step_timeout(self, deployment_id: str) -> float | None:
        return self._step_timeout(deployment_id) if self._step_timeout else None

    def wake(self, count: int = 1) -> None:
        """Work became claimable: start up to ``count`` idle slots now (ring the other
        processes when this one has too few idle slots)."""
        with self._cond:
            idle = self._idle - self._wakes
            self._wakes = min(self._wakes + count, self.slots)
            self._cond.notify(count)
        if idle < count:
            self.bell.ring_peers()

    def timer_set(self, at_ms: int | None) -> None:
        """Something becomes due at ``at_ms``: make the heartbeat wait no longer than that."""
        if at_ms is not None and (self._next_timer is None or at_ms < self._next_timer):
            self._next_timer = at_ms
            self.bell.ring_self()

    def run_changed(self) -> None:
        with self._run_cond:
            self._run_cond.notify_all()

    def wait_for_change(self, timeout: float) -> None:
        """Block until a run processed here changed state, or ``timeout``."""
        with self._run_cond:
            self._run_cond.wait(timeout)

    def write_stream(self, run_id: str, name: str, data: Any, close: bool) -> None:
        data_json = None if close else payloads.dumps(data, "stream chunk",
                                                      self.runtime.max_payload_bytes)
        streams.append(self.db.connection(), run_id, name, data_json, close)

    def load_failed(self, deployment_id: str) -> float:
        """A deployment's code failed to load for a transient reason: the seconds to wait
        before its message is tried again (doubling with each failure in a row here)."""
        failures = self._load_failures.get(deployment_id, 0) + 1
        self._load_failures[deployment_id] = failures
        return min(LOAD_RETRY_MAX, LOAD_RETRY_FIRST * 2.0 ** (failures - 1))

    def load_succeeded(self, deployment_id: str) -> None:
        if self._load_failures:
            self._load_failures.pop(deployment_id, None)

    def _workflows(self) -> Collection[str] | None:
        return None if self.runnable is None else self.runnable()

    def release_dead_owners(self, conn: Connection) -> int:
        """Release the claims of this machine's processes that are certainly dead; returns
        how many (``owners``)."""
        dead = [(node, pid) for node, pid in queue.owners(conn)
                if certainly_dead(node, pid, self.node)]
        released = 0
        for node, pid in dead:
            with conn.transaction():
                released += queue.release_owner(conn, node, pid)
            log.warning("released the claims of dead process %d (%s)", pid, node)
        if released:
            self.wake(released)
        return released

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Executor:
        self.pid = os.getpid()
        self.bell.open()
        if self.db.dialect == "postgres":
            from workflow_studio.engine.notify import Listener
            channel = queue.notify_channel(self.db)
            self.listener = Listener(self.db.target, channel, self._notified,
                                     name=f"{self.name}-listener").start()
        for index in range(self.slots):
            thread = threading.Thread(target=self._slot, name=f"{self.name}-slot-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._heartbeat, name=f"{self.name}-heartbeat",
                                daemon=True)
        beat.start()
        self._threads.append(beat)
        # No initial wake: the heartbeat's first look at the queue wakes slots if work is
        # due, so a starting process opens one connection, not one per slot.
        return self

    def _notified(self, count: int) -> None:
        """A NOTIFY arrived (``count`` 1): start an idle slot. The listener (re)connected
        (``count`` 0): notifications may have been missed, so the heartbeat looks at the
        queue now (and wakes only as many slots as there is due work)."""
        if count:
            self.wake(count)
        else:
            self.bell.ring_self()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; let running work finish up to ``timeout``; release the rest."""
        self.stopping = True
        self._halt.set()
        if self.listener is not None:
            self.listener.stop(0)
        self.bell.ring_self()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        leftover = self._active.copy()
        if leftover:
            conn = self.db.connection()
            for message in leftover.values():
                try:
                    queue.release(conn, message["id"], message["claim_token"])
                except DatabaseUnavailable:
                    log.warning("could not release %s; its lease will expire", message["id"])
            self.bell.ring_peers()
        self.bell.close()

    # -- slots ------------------------------------------------------------------------
    def _idle_wait(self) -> None:
        with self._cond:
            if self._wakes == 0 and not self.stopping:
                self._idle += 1
                self._cond.wait(1.0)
                self._idle -= 1
            self._wakes = max(0, self._wakes - 1)

    def _claim(self) -> Row | None:
        conn = self.db.connection()
        workflows = self._workflows()
        if conn.dialect == "sqlite":
            # A read first (WAL: no lock): a slot finding nothing to do must not queue for
            # SQLite's single write lock, which every trigger and commit needs.
            due = queue.next_due(conn, workflows)
            if due is None or due > now_ms():
                return None
        with conn.transaction():
            message = queue.claim(conn, self.node, self.pid, self.lease_ms,
                                  workflows=workflows)
            if message is not None and message["kind"] == "run":
                runs.mark_started(conn, message["run_id"])  # same commit as the claim
            return message

    def _slot(self) -> None:
        self._idle_wait()
        failures = 0  # claims in a row that failed for want of the database
        while not self.stopping:
            if not self._permits.acquire(timeout=1.0):
                continue  # request threads hold every permit (``execute_claimed``)
            try:
                try:
                    message = self._claim()
                    failures = 0
                except DatabaseUnavailable as exc:
                    log.warning("executor cannot claim: %s", exc)
                    message = None
                    failures += 1
                except Exception:
                    log.exception("executor claim failed")
                    message = None
                if message is not None:
                    self._process(message)
            finally:
                self._permits.release()
            if failures:
                self._halt.wait(random.uniform(0.5, 1.0) * min(
                    CLAIM_RETRY_MAX, CLAIM_RETRY_FIRST * 2.0 ** (failures - 1)))
            elif message is None:
                self._idle_wait()

    def _process(self, message: Row, run: Row | None = None,
                 yield_at: float | None = None) -> Row | None:
        self._active[message["claim_token"]] = message
        try:
            return runner.process(self, self.db.connection(), message, run, yield_at)
        except DatabaseUnavailable as exc:
            log.warning("database unavailable while processing %s (run %s): %s",
                        message["id"], message["run_id"], exc)
            self._orphans.append(message)
        except (Exception, KeyboardInterrupt, SystemExit, GeneratorExit):
            # Whatever escaped, the slot lives on: its lease lapses and the run is retried.
            log.exception("executor failed processing %s (run %s)", message["id"],
                          message["run_id"])
        finally:
            self._active.pop(message["claim_token"], None)
        return None

    # -- execution in the caller's thread -----------------------------------------------
    def reserve(self) -> bool:
        """Take a slot's permit for the calling thread if one is free (never waits)."""
        if self.stopping or not self._permits.acquire(blocking=False):
            return False
        if self.stopping:
            self._permits.release()
            return False
        return True

    def release_reservation(self) -> None:
        """Give back a permit ``reserve`` took without executing anything."""
        self._permits.release()

    def owner(self) -> tuple[str, int, int]:
        """(node, pid, lease ms): how ``engine.runs.write`` claims a new run for this process."""
        return self.node, self.pid, self.lease_ms

    def execute_claimed(self, message: Row, run: Row, yield_at: float) -> Row | None:
        """Execute a run this thread created already claimed (``engine.runs.write`` with ``owner``),
        holding the permit ``reserve`` took (released here). At the first step boundary
        after ``yield_at`` (monotonic) the run goes back to the queue for the slots, so a
        caller waiting on it is not held much past its wait. Returns the run's row if it
        ended here."""
        try:
            return self._process(message, run, yield_at)
        finally:
            self._permits.release()

    # -- heartbeat and cross-process wake-ups -----------------------------------------
    def _heartbeat(self) -> None:
        interval = self.lease_ms / 3000
        next_beat = time.monotonic() + interval
        next_reclaim = time.monotonic()  # at once: a restarted process resumes right away
        next_purge = time.monotonic() + PURGE_INTERVAL
        first_look = True
        while not self.stopping:
            listening = self.listener is not None and self.listener.connected
            wait = PG_SAFETY_POLL if listening else SAFETY_POLL
            try:
                conn = self.db.connection()
                while self._orphans:
                    orphan = self._orphans[0]
                    queue.release(conn, orphan["id"], orphan["claim_token"])
                    self._orphans.pop(0)
                    self.wake(1)
                if time.monotonic() >= next_beat:
                    tokens = list(self._active.copy())  # copy(): atomic under the GIL
                    if tokens:
                        queue.extend(conn, tokens, now_ms() + self.lease_ms)
                    next_beat = time.monotonic() + interval
                if time.monotonic() >= next_reclaim:
                    self.release_dead_owners(conn)
                    next_reclaim = time.monotonic() + interval
                if time.monotonic() >= next_purge:
                    with conn.transaction():
                        idempotency.purge_expired(conn)
                    self.runtime.purge(conn)  # what the host added (worker: retention)
                    next_purge = time.monotonic() + PURGE_INTERVAL
                due = queue.next_due(conn, self._workflows())
                self._next_timer = due
                if due is not None and due <= now_ms():
                    with self._cond:
                        idle = self._idle - self._wakes
                    if idle > 0 or first_look:  # starting, the slots may not wait yet
                        self.wake(max(idle, 1))
                elif due is not None:
                    wait = min(wait, (due - now_ms()) / 1000)
                first_look = False
                wait = min(wait, max(0.0, next_beat - time.monotonic()))
            except DatabaseUnavailable as exc:
                log.warning("executor heartbeat: %s", exc)
                wait = 0.5
            except Exception:
                log.exception("executor heartbeat failed")
                wait = 0.5
            self.bell.wait(max(wait, 0.001))

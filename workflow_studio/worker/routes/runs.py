"""The runs API: trigger (idempotent), read, long-poll, list, events, steps, streams,
cancel, and resume a hook.

``POST /v1/runs`` writes the idempotency row, the run, its ``run_created`` event, its queue
message and the request's audit row in one transaction, then wakes this process's executor;
with ``?wait`` and a free executor slot it executes the run itself instead (see
``_reserve_direct``), then long-polls the run like ``GET /v1/runs/:id?wait`` if it is not
over.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC
from typing import Any

from flask import Blueprint, current_app, g, request

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.compute.runs import MAX_WAIT_SECONDS
from workflow_studio.compute.scopes import Scope
from workflow_studio.compute.world import TERMINAL_STATUSES
from workflow_studio.engine import service
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import group_commit, idempotency
from workflow_studio.storage.world import WorldConflict, events, runs, steps, streams
from workflow_studio.worker import auditing
from workflow_studio.worker.context import conn, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body, parsed_json, query_args
from workflow_studio.worker.schemas.runs import (
    GetRunQuerySchema,
    ListRunsQuerySchema,
    PageQuerySchema,
    ResumeHookSchema,
    TriggerRunSchema,
)
from workflow_studio.worker.security import requires

bp = Blueprint("runs", __name__)
_trigger, _resume = TriggerRunSchema(), ResumeHookSchema()
_get, _list, _page = GetRunQuerySchema(), ListRunsQuerySchema(), PageQuerySchema()
IDEMPOTENCY_HEADER = "Idempotency-Key"
_TRIGGER_FIELDS = frozenset(_trigger.fields)
DIRECT_PERMIT_WAIT = 0.02  # seconds a waiting trigger waits to execute its run itself


def run_or_404(run_id: str) -> dict[str, Any]:
    """The run with this id (and it becomes the request's audited run id); 400/404 else."""
    if parse_id(run_id, "wrun") is None:
        raise ApiError(400, ErrorCode.INVALID_RUN_ID, f"{run_id!r} is not a run id (wrun_...).")
    row = runs.get(conn(), run_id)
    if row is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"No run with id {run_id!r}.")
    g.run_id = run_id
    return row


def _deployment_for(c: Any, requested: str | None) -> dict[str, Any]:
    if requested is None:
        active = deployments_repo.get_active(c)
        if active is None:
            raise ApiError(409, ErrorCode.NO_ACTIVE_DEPLOYMENT,
                           "No deployment is active; activate one or pass deploymentId.")
        return active
    if parse_id(requested, "dpl") is None:
        raise ApiError(400, ErrorCode.INVALID_DEPLOYMENT_ID,
                       f"{requested!r} is not a deployment id (dpl_...).")
    row = deployments_repo.get(c, requested)
    if row is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"No deployment with id {requested!r}.")
    if row.get("activated_at") is None:
        raise ApiError(409, ErrorCode.CONFLICT, f"Deployment {requested} was never activated, "
                       "so its code has not been proven to import.")
    return row


def _json_response(text: str, status: int, headers: dict[str, str] | None = None) -> Any:
    """A response from JSON already serialised (once, for the idempotency row and the wire)."""
    return current_app.response_class(text, status, headers, mimetype="application/json")


_permit_pools: dict[str, threading.BoundedSemaphore] = {}
_permits_lock = threading.Lock()


def _thread_permits(kind: str) -> threading.BoundedSemaphore:
    """Request threads that may be held at once for ``kind`` ("wait": idle long-polls;
    "direct": executing a run, ``_reserve_direct``): all but one each, so neither kind alone
    can keep health checks and short requests from a thread. Together they can hold every
    thread, but only for a while: a long-poll ends with its run or its wait, and a run
    executed by its trigger yields at the first step boundary after the wait."""
    with _permits_lock:
        pool = _permit_pools.get(kind)
        if pool is None:
            pool = _permit_pools[kind] = threading.BoundedSemaphore(
                max(1, state().settings.threads - 1))
        return pool


def _wait_permits() -> threading.BoundedSemaphore:
    return _thread_permits("wait")


def _direct_permits() -> threading.BoundedSemaphore:
    return _thread_permits("direct")


def _await(run_id: str, row: dict[str, Any], wait: float) -> dict[str, Any]:
    if wait <= 0 or row["status"] in TERMINAL_STATUSES:
        return row
    permits = _wait_permits()
    if not permits.acquire(blocking=False):
        return row  # busy: answer now with the current state; the client asks again
    try:
        return service.await_run(run_id, lambda: runs.get(conn(), run_id), row, wait)
    finally:
        permits.release()


def _reserve_direct(wait: float, prepared: Any) -> Any:
    """The executor, holding a slot's permit for this thread, when this trigger should
    execute its new run itself; None otherwise.

    A trigger that waits for its run executes it in the request thread when a slot is free:
    no claim transaction, no hand-off to a slot thread and back. The thread is working,
    not idle, so this takes no long-poll permit (taking one starved the triggers that went
    through the queue of their waits); the run yields at the first step boundary after the
    wait. Runs of a deployment with a concurrency limit go through the queue, whose claim
    counts them.

    When every direct permit is taken, the thread waits up to ``DIRECT_PERMIT_WAIT`` for
    one before it queues the run: the runs holding them are usually a few milliseconds
    from done, and the queue costs a claim transaction, a replay-log load and wake-ups
    for every idle slot (a quarter of W1's runs went that way, with twice the statements
    of a direct run). The thread is held either way: a queued run's trigger waits too."""
    if wait <= 0 or isinstance(prepared, ApiError) or prepared[0].get("concurrency"):
        return None
    executor = service.current_executor()
    if executor is None or not _direct_permits().acquire(
            timeout=min(wait, DIRECT_PERMIT_WAIT)):
        return None
    if not executor.reserve():
        _direct_permits().release()
        return None
    return executor


def _release_direct(executor: Any) -> None:
    if executor is not None:
        executor.release_reservation()
        _direct_permits().release()


def _trigger_wait() -> float:
    """``?wait=`` of a trigger, bounded like GET's; other query parameters are ignored,
    as they always were on this route."""
    given = request.args.get("wait")
    if given is None:
        return 0.0
    try:
        wait = float(given)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # also rejects nan
        raise ApiError(400, ErrorCode.INVALID_REQUEST, "The query parameters are invalid.",
                       fields={"wait": [f"Must be a number from 0 to {MAX_WAIT_SECONDS}."]})
    return wait


def _trigger_body() -> dict[str, Any]:
    """The trigger's body. A well-formed body (the hot path) is checked by hand, which is
    several times cheaper than the schema; anything else goes through the schema, so errors
    read exactly as before."""
    data = parsed_json() if request.is_json and request.content_length else None
    if (isinstance(data, dict) and data.keys() <= _TRIGGER_FIELDS
            and isinstance(name := data.get("workflowName"), str) and 0 < len(name) <= 200
            and isinstance(args := data.get("args", []), list)
            and isinstance(kwargs := data.get("kwargs", {}), dict)
            and all(isinstance(k, str) for k in kwargs)
            and isinstance(deployment := data.get("deploymentId"), str | None)):
        return {"workflowName": name, "args": args, "kwargs": kwargs,
                "deploymentId": deployment}
    return json_body(_trigger)


def _prepare(data: dict[str, Any], c: Any) -> tuple[dict[str, Any], Any, Any, str]:
    """(deployment, args, kwargs, input JSON) for a new run, or raise the ApiError it would
    answer.

    Read before the write transaction (a WAL read takes no lock), so the single write lock
    is held only for the writes; ``deploymentId`` pins the run either way.
    """
    deployment = _deployment_for(c, data["deploymentId"])
    if data["workflowName"] not in deployment["workflows"]:
        raise ApiError(400, ErrorCode.UNKNOWN_WORKFLOW,
                       f"Deployment {deployment['id']} has no workflow "
                       f"{data['workflowName']!r}.", workflows=deployment["workflows"])
    try:
        args = payloads.from_jsonable(data["args"])
        kwargs = payloads.from_jsonable(data["kwargs"])
        input_json = service.encode_input(args, kwargs)
    except (ValueError, TypeError, KeyError, payloads.PayloadError) as exc:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"args/kwargs hold an invalid tagged value: {exc}") from None
    return deployment, args, kwargs, input_json


@bp.post("/v1/runs")
@requires(Scope.TRIGGER_WRITE)
def trigger_run() -> Any:
    """Trigger a run; with ``?wait=S`` (<= 30) answer when it ends (200) or after S (202).

    The idempotency row, the run, its first event, its queue message and this request's
    audit row commit together. A replay (same key and payload) answers the first response,
    or, with ``?wait``, waits for that same run and answers with its current state.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ApiError(409, ErrorCode.IDEMPOTENCY_REQUIRED,
                       f"POST /v1/runs needs an {IDEMPOTENCY_HEADER} header.")
    if len(key) > 255:
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"{IDEMPOTENCY_HEADER} is too long.")
    wait = _trigger_wait()
    data = _trigger_body()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()
    c = conn()
    try:
        prepared: Any = _prepare(data, c)
    except ApiError as exc:
        prepared = exc  # raised only if this is not a replay (a replay answers regardless)
    retention_ms = state().settings.idempotency_retention_seconds * 1000
    direct = _reserve_direct(wait, prepared)
    key_id, audit = g.key_id, auditing.deferred(202)

    def write(c: Any) -> tuple[Any, Any, Any, str]:
        """The trigger's one commit; it may run on another request's thread
        (``group_commit``), so it reads nothing from the request."""
        existing = idempotency.get(c, key_id, key)
        if existing is not None:
            if existing["request_hash"] != digest:
                raise ApiError(409, ErrorCode.IDEMPOTENCY_CONFLICT,
                               f"{IDEMPOTENCY_HEADER} {key!r} was already used with a "
                               "different payload.")
            return existing, None, None, ""
        if isinstance(prepared, ApiError):
            raise prepared
        deployment, args, kwargs, input_json = prepared
        message = None
        if direct is not None:
            row, message = service.trigger_claimed(
                c, data["workflowName"], deployment_id=deployment["id"], trigger_type="api",
                input_json=input_json, owner=direct.owner())
        else:
            row = service.trigger(c, data["workflowName"], args, kwargs,
                                  deployment_id=deployment["id"], trigger_type="api",
                                  concurrency_limit=deployment.get("concurrency"),
                                  input_json=input_json)
        text = json.dumps(service.run_json(row), separators=(",", ":"))
        idempotency.record(c, key_id, key, digest, 202, None, row["id"], retention_ms,
                           response_json=text)
        audit(c, row["id"])
        return None, row, message, text

    try:
        existing, row, message, text = group_commit.for_database(state().db).run(write)
    except BaseException:
        _release_direct(direct)
        raise
    if message is None:
        _release_direct(direct)
    if existing is not None:
        g.run_id = existing["run_id"]
        replayed = {"Idempotent-Replayed": "true"}
        if wait and existing["run_id"] and existing["status_code"] == 202:
            current = runs.get(c, existing["run_id"])
            if current is not None:
                current = _await(current["id"], current, wait)
                ended = current["status"] in TERMINAL_STATUSES
                return service.run_json(current), 200 if ended else 202, replayed
        return _json_response(existing["response_json"], existing["status_code"], replayed)
    auditing.committed()
    g.run_id = row["id"]
    if message is not None:
        assert direct is not None
        deadline = time.monotonic() + wait
        try:
            ended = direct.execute_claimed(message, row, deadline)  # releases the permit
        finally:
            _direct_permits().release()
        row = ended or runs.get(c, row["id"]) or row
        wait = max(0.0, deadline - time.monotonic())
    else:
        service.wake()
    if wait:
        row = _await(row["id"], row, wait)
        if row["status"] in TERMINAL_STATUSES:
            return service.run_json(row), 200
        return service.run_json(row), 202
    return _json_response(text, 202)


@bp.get("/v1/runs/<run_id>")
@requires(Scope.RUNS_READ)
def get_run(run_id: str) -> Any:
    wait = query_args(_get)["wait"]
    row = run_or_404(run_id)
    return service.run_json(_await(run_id, row, wait))


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@bp.get("/v1/runs")
@requires(Scope.RUNS_READ)
def list_runs() -> Any:
    q = query_args(_list)
    rows, has_more = runs.list_runs(
        conn(), status=q["status"], workflow=q["workflow"], trigger_type=q["triggerType"],
        created_from=_ms(q["createdFrom"]), created_to=_ms(q["createdTo"]),
        cursor=q["cursor"], limit=q["limit"])
    return {"data": [service.run_json(r, include_io=False) for r in rows],
            "cursor": rows[-1]["id"] if rows and has_more else None, "hasMore": has_more}


@bp.get("/v1/runs/<run_id>/events")
@requires(Scope.RUNS_READ)
def run_events(run_id: str) -> Any:
    run_or_404(run_id)
    q = query_args(_page)
    rows = events.list_for_run(conn(), run_id, q["cursor"], q["limit"] + 1)
    has_more = len(rows) > q["limit"]
    rows = rows[:q["limit"]]
    return {"data": [service.event_json(e) for e in rows],
            "cursor": rows[-1]["position"] if rows and has_more else None, "hasMore": has_more}


@bp.get("/v1/runs/<run_id>/steps")
@requires(Scope.RUNS_READ)
def run_steps(run_id: str) -> Any:
    run_or_404(run_id)
    return {"data": [service.step_json(s) for s in steps.for_run(conn(), run_id)],
            "cursor": None, "hasMore": False}


@bp.get("/v1/runs/<run_id>/streams/<name>")
@requires(Scope.RUNS_READ)
def run_stream(run_id: str, name: str) -> Any:
    row = run_or_404(run_id)
    q = query_args(_page)
    chunks = streams.read(conn(), run_id, name, q["cursor"], q["limit"])
    done = any(c["is_close"] for c in chunks)
    return {"data": [service.chunk_json(c) for c in chunks],
            "cursor": chunks[-1]["position"] if chunks else q["cursor"],
            "done": done, "runStatus": row["status"]}


@bp.post("/v1/runs/<run_id>/cancel")
@requires(Scope.RUNS_WRITE)
def cancel_run(run_id: str) -> Any:
    run_or_404(run_id)
    try:
        row = service.cancel(conn(), run_id)
    except WorldConflict as exc:
        raise ApiError(409, ErrorCode.RUN_TERMINAL, str(exc)) from None
    service.run_changed(run_id)
    return service.run_json(row)


@bp.post("/v1/runs/resume")
@requires(Scope.RUNS_WRITE)
def resume_hook() -> Any:
    data = json_body(_resume)
    try:
        payload = payloads.from_jsonable(data["payload"])
        hook = service.resume_hook(conn(), data["token"], payload)
    except payloads.PayloadError as exc:
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"payload: {exc}") from None
    except service.HookNotFound:
        raise ApiError(404, ErrorCode.NOT_FOUND,
                       "No live hook has this token (unknown, or its run finished).") from None
    except WorldConflict as exc:
        raise ApiError(409, ErrorCode.CONFLICT, str(exc)) from None
    g.run_id = hook["run_id"]
    service.wake()
    return {"hookId": hook["id"], "runId": hook["run_id"], "status": "resumed"}, 202

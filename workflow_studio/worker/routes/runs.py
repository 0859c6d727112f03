"""The runs API: trigger (idempotent), read, long-poll, list, events, steps, streams,
cancel, and resume a hook.

``POST /v1/runs`` parses the request and hands it to ``engine.runs`` (the one service that
starts runs: deployment choice, idempotency, the writes, direct execution); this module
only parses, calls and renders. The request's audit row commits with the run.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, current_app, g, request

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.runs import MAX_WAIT_SECONDS
from workflow_studio.compute.scopes import Scope
from workflow_studio.compute.world import TERMINAL_STATUSES
from workflow_studio.engine import render, service
from workflow_studio.engine import runs as starts
from workflow_studio.storage.world import WorldConflict, events, runs, steps, streams
from workflow_studio.worker import auditing
from workflow_studio.worker.context import conn, run_or_404, runtime, start_refused, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import has_body, json_body, parsed_json, query_args
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


def _json_response(text: str, status: int, headers: dict[str, str] | None = None) -> Any:
    """A response from JSON already serialised (once, for the idempotency row and the wire)."""
    return current_app.response_class(text, status, headers, mimetype="application/json")


def _await(run_id: str, row: dict[str, Any], wait: float) -> dict[str, Any]:
    return runtime().await_run(run_id, lambda: runs.get(conn(), run_id), row, wait)


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
        raise ApiError(ErrorCode.INVALID_REQUEST, "The query parameters are invalid.",
                       fields={"wait": [f"Must be a number from 0 to {MAX_WAIT_SECONDS}."]})
    return wait


def _trigger_body() -> dict[str, Any]:
    """The trigger's body. A well-formed body (the hot path) is checked by hand, which is
    several times cheaper than the schema; anything else goes through the schema, so errors
    read exactly as before."""
    data = parsed_json() if request.is_json and has_body() else None
    if (isinstance(data, dict) and data.keys() <= _TRIGGER_FIELDS
            and isinstance(name := data.get("workflowName"), str) and 0 < len(name) <= 200
            and isinstance(args := data.get("args", []), list)
            and isinstance(kwargs := data.get("kwargs", {}), dict)
            and all(isinstance(k, str) for k in kwargs)
            and isinstance(deployment := data.get("deploymentId"), str | None)):
        return {"workflowName": name, "args": args, "kwargs": kwargs,
                "deploymentId": deployment}
    return json_body(_trigger)


def _idempotency_key() -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ApiError(ErrorCode.IDEMPOTENCY_REQUIRED,
                       f"POST /v1/runs needs an {IDEMPOTENCY_HEADER} header.")
    if len(key) > 255:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"{IDEMPOTENCY_HEADER} is too long.")
    return key


@bp.post("/v1/runs")
@requires(Scope.TRIGGER_WRITE)
def trigger_run() -> Any:
    """Trigger a run; with ``?wait=S`` (<= 30) answer when it ends (200) or after S (202).

    A replay (same key and payload) answers the first response, or, with ``?wait``, waits
    for that same run and answers with its current state.
    """
    key = _idempotency_key()
    wait = _trigger_wait()
    data = _trigger_body()
    retention_ms = state().settings.idempotency_retention_seconds * 1000
    start = starts.StartRequest(
        data["workflowName"], data["args"], data["kwargs"], data["deploymentId"], "api",
        starts.Idempotency(g.key_id, key, retention_ms))
    audit = auditing.deferred(202)
    try:
        started = runtime().start(
            conn(), start, wait=wait, on_created=lambda c, row: audit(c, row["id"]))
    except starts.StartRefused as exc:
        raise start_refused(exc) from None
    if started.replayed is not None:
        existing = started.replayed
        g.run_id = existing["run_id"]
        replayed = {"Idempotent-Replayed": "true"}
        if wait and started.run and existing["status_code"] == 202:
            current = _await(started.run["id"], started.run, wait)
            ended = current["status"] in TERMINAL_STATUSES
            return render.run_json(current), 200 if ended else 202, replayed
        return _json_response(existing["response_json"], existing["status_code"], replayed)
    auditing.committed()
    row = started.run
    g.run_id = row["id"]
    if started.wait_left is not None:
        wait = started.wait_left
    if wait:
        row = _await(row["id"], row, wait)
        return render.run_json(row), 200 if row["status"] in TERMINAL_STATUSES else 202
    return _json_response(started.response_json, 202)


@bp.get("/v1/runs/<run_id>")
@requires(Scope.RUNS_READ)
def get_run(run_id: str) -> Any:
    wait = query_args(_get)["wait"]
    row = run_or_404(run_id)
    return render.run_json(_await(run_id, row, wait))


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
        cursor=q["cursor"], limit=q["limit"], schedule_id=q["scheduleId"])
    return {"data": [render.run_json(r, include_io=False) for r in rows],
            "cursor": rows[-1]["id"] if rows and has_more else None, "hasMore": has_more}


@bp.get("/v1/runs/<run_id>/events")
@requires(Scope.RUNS_READ)
def run_events(run_id: str) -> Any:
    run_or_404(run_id)
    q = query_args(_page)
    rows = events.list_for_run(conn(), run_id, q["cursor"], q["limit"] + 1)
    has_more = len(rows) > q["limit"]
    rows = rows[:q["limit"]]
    return {"data": [render.event_json(e) for e in rows],
            "cursor": rows[-1]["position"] if rows and has_more else None, "hasMore": has_more}


@bp.get("/v1/runs/<run_id>/steps")
@requires(Scope.RUNS_READ)
def run_steps(run_id: str) -> Any:
    run_or_404(run_id)
    return {"data": [render.step_json(s) for s in steps.for_run(conn(), run_id)],
            "cursor": None, "hasMore": False}


@bp.get("/v1/runs/<run_id>/streams/<name>")
@requires(Scope.RUNS_READ)
def run_stream(run_id: str, name: str) -> Any:
    row = run_or_404(run_id)
    q = query_args(_page)
    chunks = streams.read(conn(), run_id, name, q["cursor"], q["limit"])
    done = any(c["is_close"] for c in chunks)
    return {"data": [render.chunk_json(c) for c in chunks],
            "cursor": chunks[-1]["position"] if chunks else q["cursor"],
            "done": done, "runStatus": row["status"]}


@bp.post("/v1/runs/<run_id>/cancel")
@requires(Scope.RUNS_WRITE)
def cancel_run(run_id: str) -> Any:
    run_or_404(run_id)
    try:
        row = service.cancel(conn(), run_id)
    except WorldConflict as exc:
        raise ApiError(ErrorCode.RUN_TERMINAL, str(exc)) from None
    runtime().run_changed(run_id)
    return render.run_json(row)


@bp.post("/v1/runs/resume")
@requires(Scope.RUNS_WRITE)
def resume_hook() -> Any:
    data = json_body(_resume)
    try:
        payload = payloads.from_jsonable(data["payload"])
        hook = service.resume_hook(conn(), data["token"], payload,
                                   state().settings.max_payload_bytes)
    except payloads.PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"payload: {exc}") from None
    except payloads.PayloadError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"payload: {exc}") from None
    except service.HookNotFound:
        raise ApiError(ErrorCode.NOT_FOUND,
                       "No live hook has this token (unknown, or its run finished).") from None
    except WorldConflict as exc:
        raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
    g.run_id = hook["run_id"]
    runtime().wake()
    return {"hookId": hook["id"], "runId": hook["run_id"], "status": "resumed"}, 202

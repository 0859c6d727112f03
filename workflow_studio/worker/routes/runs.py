"""The runs API: trigger (idempotent), read, long-poll, list, events, steps, streams,
cancel, and resume a hook.

``POST /v1/runs`` writes the idempotency row, the run, its ``run_created`` event and its
queue message in one transaction, then wakes this process's executor.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC
from typing import Any

from flask import Blueprint, g, request

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.compute.runs import (
    GetRunQuerySchema,
    ListRunsQuerySchema,
    PageQuerySchema,
    ResumeHookSchema,
    TriggerRunSchema,
)
from workflow_studio.compute.scopes import Scope
from workflow_studio.compute.world import TERMINAL_STATUSES
from workflow_studio.worker.context import conn, state
from workflow_studio.worker.engine import service
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body, query_args
from workflow_studio.worker.security import requires
from workflow_studio.worker.storage import deployments as deployments_repo
from workflow_studio.worker.storage import idempotency
from workflow_studio.worker.storage.world import WorldConflict, events, runs, steps, streams

bp = Blueprint("runs", __name__)
_trigger, _resume = TriggerRunSchema(), ResumeHookSchema()
_get, _list, _page = GetRunQuerySchema(), ListRunsQuerySchema(), PageQuerySchema()
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _run_or_404(run_id: str) -> dict[str, Any]:
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


@bp.post("/v1/runs")
@requires(Scope.TRIGGER_WRITE)
def trigger_run() -> Any:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ApiError(409, ErrorCode.IDEMPOTENCY_REQUIRED,
                       f"POST /v1/runs needs an {IDEMPOTENCY_HEADER} header.")
    if len(key) > 255:
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"{IDEMPOTENCY_HEADER} is too long.")
    data = json_body(_trigger)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()
    c = conn()
    settings = state().settings
    with c.transaction():
        existing = idempotency.get(c, g.key_id, key)
        if existing is not None:
            if existing["request_hash"] != digest:
                raise ApiError(409, ErrorCode.IDEMPOTENCY_CONFLICT,
                               f"{IDEMPOTENCY_HEADER} {key!r} was already used with a "
                               "different payload.")
            g.run_id = existing["run_id"]
            return existing["response"], existing["status_code"], {
                "Idempotent-Replayed": "true"}
        deployment = _deployment_for(c, data["deploymentId"])
        if data["workflowName"] not in deployment["workflows"]:
            raise ApiError(400, ErrorCode.UNKNOWN_WORKFLOW,
                           f"Deployment {deployment['id']} has no workflow "
                           f"{data['workflowName']!r}.", workflows=deployment["workflows"])
        try:
            args = payloads.from_jsonable(data["args"])
            kwargs = payloads.from_jsonable(data["kwargs"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           f"args/kwargs hold an invalid tagged value: {exc}") from None
        row = service.trigger(c, data["workflowName"], args, kwargs,
                              deployment_id=deployment["id"], trigger_type="api",
                              concurrency_limit=deployment.get("concurrency"))
        body = service.run_json(row)
        idempotency.record(c, g.key_id, key, digest, 202, body, row["id"],
                           settings.idempotency_retention_seconds * 1000)
    g.run_id = row["id"]
    service.wake()
    return body, 202


@bp.get("/v1/runs/<run_id>")
@requires(Scope.RUNS_READ)
def get_run(run_id: str) -> Any:
    wait = query_args(_get)["wait"]
    row = _run_or_404(run_id)
    deadline = time.monotonic() + wait
    executor = service.current_executor()
    pause = 0.001  # adaptive: a run finishing in another process is seen within ~1-20 ms
    while row["status"] not in TERMINAL_STATUSES and time.monotonic() < deadline:
        step = min(pause, max(0.0, deadline - time.monotonic()))
        pause = min(0.02, pause * 2)
        if executor is not None:
            executor.wait_for_change(step)
        else:
            time.sleep(step)
        row = runs.get(conn(), run_id) or row
    return service.run_json(row)


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
    _run_or_404(run_id)
    q = query_args(_page)
    rows = events.list_for_run(conn(), run_id, q["cursor"], q["limit"] + 1)
    has_more = len(rows) > q["limit"]
    rows = rows[:q["limit"]]
    return {"data": [service.event_json(e) for e in rows],
            "cursor": rows[-1]["position"] if rows and has_more else None, "hasMore": has_more}


@bp.get("/v1/runs/<run_id>/steps")
@requires(Scope.RUNS_READ)
def run_steps(run_id: str) -> Any:
    _run_or_404(run_id)
    return {"data": [service.step_json(s) for s in steps.for_run(conn(), run_id)],
            "cursor": None, "hasMore": False}


@bp.get("/v1/runs/<run_id>/streams/<name>")
@requires(Scope.RUNS_READ)
def run_stream(run_id: str, name: str) -> Any:
    row = _run_or_404(run_id)
    q = query_args(_page)
    chunks = streams.read(conn(), run_id, name, q["cursor"], q["limit"])
    done = any(c["is_close"] for c in chunks)
    return {"data": [service.chunk_json(c) for c in chunks],
            "cursor": chunks[-1]["position"] if chunks else q["cursor"],
            "done": done, "runStatus": row["status"]}


@bp.post("/v1/runs/<run_id>/cancel")
@requires(Scope.RUNS_WRITE)
def cancel_run(run_id: str) -> Any:
    _run_or_404(run_id)
    try:
        row = service.cancel(conn(), run_id)
    except WorldConflict as exc:
        raise ApiError(409, ErrorCode.RUN_TERMINAL, str(exc)) from None
    return service.run_json(row)


@bp.post("/v1/runs/resume")
@requires(Scope.RUNS_WRITE)
def resume_hook() -> Any:
    data = json_body(_resume)
    try:
        payload = payloads.from_jsonable(data["payload"])
        hook = service.resume_hook(conn(), data["token"], payload)
    except service.HookNotFound:
        raise ApiError(404, ErrorCode.NOT_FOUND,
                       "No live hook has this token (unknown, or its run finished).") from None
    except WorldConflict as exc:
        raise ApiError(409, ErrorCode.CONFLICT, str(exc)) from None
    g.run_id = hook["run_id"]
    service.wake()
    return {"hookId": hook["id"], "runId": hook["run_id"], "status": "resumed"}, 202

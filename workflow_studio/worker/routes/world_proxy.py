"""The world-proxy routes (scope ``world:proxy``): the World interface over HTTP for remote
worlds, event-sourced through the engine's own repositories.

Writes go through ``proxy.events.apply`` (one transaction: event plus entity); reads page
with ``{limit <= 1000, cursor, sortOrder}`` -> ``{data, cursor, hasMore}``. Encryption keys
are derived per run from the server secret (HKDF); the secret itself never leaves.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from flask import Blueprint, g

from workflow_studio.compute import payloads
from workflow_studio.compute.clock import iso, now_ms
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.scopes import Scope
from workflow_studio.engine import render
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage.world import (
    TERMINAL_RUN_STATUSES,
    hooks,
    queue,
    steps,
    streams,
)
from workflow_studio.worker.context import conn, run_or_404, runtime, state
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import json_body, query_args
from workflow_studio.worker.proxy import events as proxy_events
from workflow_studio.worker.proxy import pages
from workflow_studio.worker.schemas import world_proxy as schemas
from workflow_studio.worker.security import requires
from workflow_studio.worker.webhooks.tokens import server_secret

bp = Blueprint("world_proxy", __name__)
PROXY = Scope.WORLD_PROXY
_run_page, _corr_page = schemas.RunPageSchema(), schemas.CorrelationPageSchema()
_runs_list, _hooks_list = schemas.RunsListSchema(), schemas.HooksListSchema()
_create, _publish = schemas.CreateEventSchema(), schemas.PublishSchema()
_write, _close = schemas.StreamWriteSchema(), schemas.StreamCloseSchema()
_read, _names = schemas.StreamReadQuerySchema(), schemas.StreamListQuerySchema()
_key = schemas.EncryptionKeySchema()


def _found(row: Any, what: str) -> Any:
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No {what}.")
    return row


def _cursor(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is int:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if (not isinstance(value, int) or isinstance(value, bool) or value < 0
                or value >= 2**63):
            raise ApiError(ErrorCode.INVALID_REQUEST, "cursor must be a non-negative "
                           "integer (the cursor of the previous page).")
        return value
    if not isinstance(value, str):
        raise ApiError(ErrorCode.INVALID_REQUEST, "cursor must be a string (the cursor "
                       "of the previous page).")
    return value


def _listing(rows: list[Any], cursor: Any, more: bool, render: Any) -> dict[str, Any]:
    return {"data": [render(r) for r in rows], "cursor": cursor, "hasMore": more}


def hook_json(hook: dict[str, Any]) -> dict[str, Any]:
    return {"id": hook["id"], "runId": hook["run_id"], "position": hook["seq"],
            "token": hook["token"], "status": hook["status"],
            "metadata": payloads.loads(hook.get("metadata_json")),
            "payload": payloads.to_jsonable(payloads.loads(hook.get("payload_json"))),
            "disposed": hook.get("disposed_at") is not None,
            "createdAt": iso(hook.get("created_at")), "receivedAt": iso(hook.get("received_at")),
            "disposedAt": iso(hook.get("disposed_at"))}


def wait_json(wait: dict[str, Any]) -> dict[str, Any]:
    return {"id": wait["id"], "runId": wait["run_id"], "position": wait["seq"],
            "status": wait["status"], "resumeAt": wait["resume_at"]}


_RENDER = MappingProxyType({"run": render.run_json, "step": render.step_json,
                           "hook": hook_json, "wait": wait_json})


# -- queue and deployment -------------------------------------------------------------
@bp.post("/v1/queue/publish")
@requires(PROXY)
def queue_publish() -> Any:
    """Make the run's next execution due (now, or after ``delaySeconds``)."""
    data = json_body(_publish)
    run_id = data["runId"] or (data["message"] or {}).get("runId")
    c = conn()
    with c.transaction():
        run = run_or_404(run_id)
        if run["status"] in TERMINAL_RUN_STATUSES:
            raise ApiError(ErrorCode.RUN_TERMINAL,
                           f"run {run_id} is already {run['status']}")
        visible_at = now_ms() + int(data["delaySeconds"] * 1000)
        queue.enqueue_run(c, run_id, run["deployment_id"], visible_at=visible_at)
    runtime().wake()
    return {"runId": run_id, "queued": True, "visibleAt": iso(visible_at)}, 202


@bp.get("/v1/world/deployment-id")
@requires(PROXY)
def deployment_id() -> Any:
    active = deployments_repo.active_id(conn())
    if active is None:
        raise ApiError(ErrorCode.NO_ACTIVE_DEPLOYMENT, "No deployment is active.")
    return {"deploymentId": active}


# -- events ---------------------------------------------------------------------------
@bp.post("/v1/world/events/create")
@requires(PROXY)
def create_event() -> Any:
    data = json_body(_create)
    event_type, run_id = data["eventType"], data["runId"]
    if event_type not in proxy_events.EVENT_TYPES:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"Unknown eventType {event_type!r}.",
                       eventTypes=list(proxy_events.EVENT_TYPES))
    c = conn()
    with c.transaction():
        if event_type == "run_created":
            row = proxy_events.create_run(c, run_id, data["eventData"])
            run_id, before, result = row["id"], 0, {"run": row}
        else:
            if run_id is None:
                raise ApiError(ErrorCode.INVALID_REQUEST, f"{event_type} needs runId.")
            run_or_404(run_id)
            before = pages.last_position(c, run_id)
            result = proxy_events.apply(c, run_id, event_type, data["correlationId"],
                                        data["eventData"])
        written = pages.events_since(c, run_id, before)
    g.run_id = run_id
    if event_type in ("hook_received", "run_created"):
        runtime().wake()
    (kind, entity), = result.items()
    main = next((e for e in written if e["event_type"] == event_type), None)
    body = {"event": render.event_json(main) if main else None,
            "events": [render.event_json(e) for e in written],
            kind: _RENDER[kind](entity)}
    return body, 201 if written else 200


@bp.post("/v1/world/events/list")
@requires(PROXY)
def list_events() -> Any:
    q = json_body(_run_page)
    run_or_404(q["runId"])
    rows, cursor, more = pages.events(conn(), run_id=q["runId"], cursor=_cursor(q["cursor"], int),
                                      limit=q["limit"], order=q["sortOrder"])
    return _listing(rows, cursor, more, render.event_json)


@bp.post("/v1/world/events/list-by-correlation")
@requires(PROXY)
def list_events_by_correlation() -> Any:
    q = json_body(_corr_page)
    rows, cursor, more = pages.events(conn(), correlation_id=q["correlationId"],
                                      cursor=_cursor(q["cursor"], int), limit=q["limit"],
                                      order=q["sortOrder"])
    return _listing(rows, cursor, more, render.event_json)


@bp.get("/v1/world/events/<event_id>")
@requires(PROXY)
def get_event(event_id: str) -> Any:
    return render.event_json(_found(pages.event(conn(), event_id), f"event {event_id!r}"))


# -- runs, steps, hooks ---------------------------------------------------------------
@bp.post("/v1/world/runs/list")
@requires(PROXY)
def list_runs() -> Any:
    q = json_body(_runs_list)
    rows, cursor, more = pages.page(
        conn(), "workflow_runs", "id",
        {"status": q["status"], "workflow_name": q["workflowName"],
         "deployment_id": q["deploymentId"]},
        _cursor(q["cursor"], str), q["limit"], q["sortOrder"])
    return _listing(rows, cursor, more, lambda r: render.run_json(r, include_io=False))


@bp.get("/v1/world/runs/<run_id>")
@requires(PROXY)
def get_run(run_id: str) -> Any:
    return render.run_json(run_or_404(run_id))


@bp.get("/v1/world/steps/<step_id>")
@requires(PROXY)
def get_step(step_id: str) -> Any:
    return render.step_json(_found(steps.get_by_id(conn(), step_id), f"step {step_id!r}"))


@bp.post("/v1/world/steps/list")
@requires(PROXY)
def list_steps() -> Any:
    q = json_body(_run_page)
    run_or_404(q["runId"])
    rows, cursor, more = pages.page(conn(), "workflow_steps", "seq", {"run_id": q["runId"]},
                                    _cursor(q["cursor"], int), q["limit"], q["sortOrder"])
    return _listing(rows, cursor, more, render.step_json)


@bp.get("/v1/world/hooks/<hook_id>")
@requires(PROXY)
def get_hook(hook_id: str) -> Any:
    return hook_json(_found(hooks.get(conn(), hook_id), f"hook {hook_id!r}"))


@bp.get("/v1/world/hooks/by-token/<path:token>")
@requires(PROXY)
def get_hook_by_token(token: str) -> Any:
    return hook_json(_found(pages.hook_by_token(conn(), token), "hook with this token"))


@bp.post("/v1/world/hooks/list")
@requires(PROXY)
def list_hooks() -> Any:
    q = json_body(_hooks_list)
    if q["runId"] is not None:
        run_or_404(q["runId"])
    rows, cursor, more = pages.page(conn(), "workflow_hooks", "id", {"run_id": q["runId"]},
                                    _cursor(q["cursor"], str), q["limit"], q["sortOrder"])
    return _listing(rows, cursor, more, hook_json)


# -- streams --------------------------------------------------------------------------
def _open_stream(run_id: str, name: str) -> None:
    if pages.stream_info(conn(), run_id, name)["closed"]:
        raise ApiError(ErrorCode.CONFLICT, f"stream {name!r} of run {run_id} is closed")


@bp.post("/v1/world/streams/write")
@requires(PROXY)
def stream_write() -> Any:
    data = json_body(_write)
    chunks = data["chunks"] if data["chunks"] is not None else [data["chunk"]]
    c = conn()
    with c.transaction():
        run_or_404(data["runId"])
        _open_stream(data["runId"], data["name"])
        limit = state().settings.max_payload_bytes
        for chunk in chunks:
            try:
                chunk_json = payloads.dumps(payloads.from_jsonable(chunk), "chunk", limit)
            except payloads.PayloadTooLarge as exc:
                raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, str(exc)) from None
            except (ValueError, TypeError, KeyError, payloads.PayloadError) as exc:
                raise ApiError(ErrorCode.INVALID_REQUEST,
                               f"chunk holds an invalid tagged value: {exc}") from None
            streams.append(c, data["runId"], data["name"], chunk_json)
        info = pages.stream_info(c, data["runId"], data["name"])
    return {"runId": data["runId"], "name": data["name"], "written": len(chunks), **info}, 201


@bp.post("/v1/world/streams/close")
@requires(PROXY)
def stream_close() -> Any:
    data = json_body(_close)
    c = conn()
    with c.transaction():
        run_or_404(data["runId"])
        if not pages.stream_info(c, data["runId"], data["name"])["closed"]:
            streams.append(c, data["runId"], data["name"], None, close=True)
        info = pages.stream_info(c, data["runId"], data["name"])
    return {"runId": data["runId"], "name": data["name"], **info}


@bp.get("/v1/world/streams/read")
@bp.get("/v1/world/streams/chunks")
@requires(PROXY)
def stream_read() -> Any:
    q = query_args(_read)
    run = run_or_404(q["runId"])
    rows = streams.read(conn(), q["runId"], q["name"], q["cursor"], q["limit"] + 1)
    more = len(rows) > q["limit"]
    rows = rows[:q["limit"]]
    return {"data": [render.chunk_json(r) for r in rows],
            "cursor": rows[-1]["position"] if rows else q["cursor"], "hasMore": more,
            "done": any(r["is_close"] for r in rows), "runStatus": run["status"]}


@bp.get("/v1/world/streams/info")
@requires(PROXY)
def stream_info() -> Any:
    q = query_args(_read)
    run_or_404(q["runId"])
    return {"runId": q["runId"], "name": q["name"],
            **pages.stream_info(conn(), q["runId"], q["name"])}


@bp.get("/v1/world/streams/list")
@requires(PROXY)
def stream_list() -> Any:
    q = query_args(_names)
    run_or_404(q["runId"])
    return {"data": streams.names(conn(), q["runId"]), "cursor": None, "hasMore": False}


# -- encryption -----------------------------------------------------------------------
@bp.post("/v1/world/encryption-key")
@requires(PROXY)
def encryption_key() -> Any:
    data = json_body(_key)
    run = run_or_404(data["runId"])
    return {"runId": run["id"], "key": server_secret().run_key(run["id"]),
            "encoding": "base64url", "bits": 256, "derivation": "HKDF-SHA256"}

"""The one way to start a run: ``start_run`` (or ``prepare`` + ``write`` on the hot path).

Every trigger goes through here: the runs API, the local world, the local CLI, webhook
handlers, the world proxy's ``run_created`` event and schedules (``engine.schedules``; later
forks and child runs). This module owns the rules they must agree on:

- **which deployment** the run is pinned to: the requested one (it must exist and have
  been activated, i.e. proven to import), else the active one (``no_active_deployment``
  when there is none), and it must define the workflow (``unknown_workflow``);
- **idempotency**: a key is scoped (API key id, ``local``, ...); the same key with the same
  request digest replays the first run, with another digest it is a conflict;
- **the writes**: the run, its ``run_created`` event, its queue message and the
  idempotency record commit together, so a replay always finds a run that exists;
- **direct execution**: a run whose creator will execute it at once is created already
  claimed (no claim transaction); runs of a deployment with a concurrency limit never are.

``prepare`` reads (outside the write lock); ``write`` is the transaction. A refusal found
while preparing is raised only by ``write``, after the idempotency look-up: a replay of a
request whose deployment has since been deactivated still answers the first run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.compute.runs import TRIGGER_TYPES
from workflow_studio.engine.render import run_json
from workflow_studio.storage import Connection, Row, idempotency
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage.world import queue, runs

LOCAL_DEPLOYMENT = "local"


class StartRefused(Exception):
    """The run cannot be started; ``code`` says why (its HTTP status is bound to it)."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


@dataclasses.dataclass(frozen=True)
class Target:
    """The deployment a run is pinned to, as far as starting it is concerned."""

    id: str
    workflows: Collection[str]
    concurrency: int | None = None


@dataclasses.dataclass(frozen=True)
class Idempotency:
    """``key`` within ``scope`` (the API key's id, ``local``...), for ``retention_ms``."""

    scope: str
    key: str
    retention_ms: int = 24 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class StartRequest:
    """What to start. ``args``/``kwargs`` are tagged JSON (``payloads.to_jsonable``), as
    the API receives them; ``deployment`` is an id, None for the active one, or a
    ``Target`` the caller resolved itself (the local world's registered functions)."""

    workflow_name: str
    args: list[Any] = dataclasses.field(default_factory=list)
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    deployment: str | Target | None = None
    trigger_type: str = "api"
    idempotency: Idempotency | None = None
    run_id: str | None = None  # chosen by the caller (world proxy); else a new id
    input_json: str | None = None  # the input already encoded (world proxy): no args
    enqueue: bool = True  # False: the caller queues the run itself (world proxy)
    schedule_id: str | None = None  # a schedule's run: trigger_type "schedule"
    scheduled_at: int | None = None  # its tick (ms); unique per schedule, None for "fire now"

    def digest(self) -> str:
        """The request's identity for idempotency: the same for the same workflow,
        arguments and requested deployment, however the caller spelled them."""
        requested = self.deployment.id if isinstance(self.deployment, Target) \
            else self.deployment
        body = {"workflowName": self.workflow_name, "args": self.args,
                "kwargs": dict(self.kwargs), "deploymentId": requested}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                              .encode()).hexdigest()

    @classmethod
    def of_values(cls, workflow_name: str, args: tuple[Any, ...] | list[Any],
                  kwargs: Mapping[str, Any], **options: Any) -> StartRequest:
        """A request from Python values (the local world, webhook handlers)."""
        return cls(workflow_name, payloads.to_jsonable(list(args), "args"),
                   payloads.to_jsonable(dict(kwargs), "kwargs"), **options)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A request read and checked outside the write transaction (``prepare``)."""

    request: StartRequest
    digest: str
    target: Target | None = None
    input_json: str = ""
    refused: StartRefused | None = None

    @property
    def direct_eligible(self) -> bool:
        """Whether its creator may execute it at once (a concurrency limit is counted by
        the queue's claim, so such runs always go through the queue)."""
        return self.refused is None and self.target is not None \
            and not self.target.concurrency and self.request.enqueue


@dataclasses.dataclass
class Started:
    """The outcome: the run (new or replayed), and for a new run claimed by its creator,
    the claimed message to execute. ``replayed`` is the first request's idempotency
    record when this was a replay; ``response_json`` the run as first answered."""

    run: Row
    response_json: str
    replayed: Row | None = None
    message: Row | None = None
    wait_left: float | None = None  # set when the caller executed the run itself


def choose_deployment(conn: Connection, requested: str | None) -> Target:
    """The deployment a new run is pinned to (see the module docstring for the rules)."""
    if requested is None:
        active = deployments_repo.get_active(conn)
        if active is None:
            raise StartRefused(ErrorCode.NO_ACTIVE_DEPLOYMENT,
                               "No deployment is active; activate one or pass deploymentId.")
        return _target(active)
    if parse_id(requested, "dpl") is None:
        raise StartRefused(ErrorCode.INVALID_DEPLOYMENT_ID,
                           f"{requested!r} is not a deployment id (dpl_...).")
    row = deployments_repo.get(conn, requested)
    if row is None:
        raise StartRefused(ErrorCode.NOT_FOUND, f"No deployment with id {requested!r}.")
    if row.get("activated_at") is None:
        raise StartRefused(ErrorCode.CONFLICT, f"Deployment {requested} was never "
                           "activated, so its code has not been proven to import.")
    return _target(row)


def _target(row: Row) -> Target:
    return Target(row["id"], row["workflows"], row.get("concurrency"))


def prepare(conn: Connection, request: StartRequest,
            max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES) -> Prepared:
    """Resolve the deployment and encode the input (at most ``max_payload_bytes``), before
    the write transaction (a WAL read takes no lock, so the single write lock is held only
    for the writes)."""
    digest = request.digest() if request.idempotency is not None else ""
    try:
        target = request.deployment if isinstance(request.deployment, Target) \
            else choose_deployment(conn, request.deployment)
        if request.workflow_name not in target.workflows:
            raise StartRefused(ErrorCode.UNKNOWN_WORKFLOW,
                               f"Deployment {target.id} has no workflow "
                               f"{request.workflow_name!r}.", workflows=list(target.workflows))
        if request.trigger_type not in TRIGGER_TYPES:
            raise StartRefused(ErrorCode.INVALID_REQUEST, "triggerType must be one of "
                               f"{', '.join(TRIGGER_TYPES)}")
        input_json = request.input_json or encode_input(request.args, request.kwargs,
                                                        max_payload_bytes)
    except StartRefused as refused:
        return Prepared(request, digest, refused=refused)
    return Prepared(request, digest, target, input_json)


def encode_input(args: list[Any], kwargs: Mapping[str, Any],
                 max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES) -> str:
    """A run's stored input from tagged-JSON arguments (``StartRefused`` if a tag is bad,
    ``payload_too_large`` beyond ``max_payload_bytes``)."""
    try:
        values = payloads.from_jsonable(args), payloads.from_jsonable(dict(kwargs))
        return payloads.dumps({"args": tuple(values[0]), "kwargs": dict(values[1])},
                              "run arguments", max_payload_bytes)
    except payloads.PayloadTooLarge as exc:
        raise StartRefused(ErrorCode.PAYLOAD_TOO_LARGE, str(exc)) from None
    except (ValueError, TypeError, KeyError, payloads.PayloadError) as exc:
        raise StartRefused(ErrorCode.INVALID_REQUEST,
                           f"args/kwargs hold an invalid tagged value: {exc}") from None


def write(conn: Connection, prepared: Prepared, *,
          owner: tuple[str, int, int] | None = None,
          on_created: Callable[[Connection, Row], None] | None = None) -> Started:
    """The start's one transaction (joining the caller's, if any). It may run on another
    thread's connection (group commit), so it reads nothing but its arguments.

    ``owner`` (host, pid, lease ms): create the run started and its message claimed by
    that executor, for the caller to execute at once. ``on_created(conn, run)`` writes
    what must commit with a new run (the request's audit row).
    """
    request, key = prepared.request, prepared.request.idempotency
    with conn.transaction():
        if key is not None:
            existing = idempotency.get(conn, key.scope, key.key)
            if existing is not None:
                return _replay(conn, existing, prepared.digest, key)
        if prepared.refused is not None:
            raise prepared.refused
        target = prepared.target
        assert target is not None
        message = None
        if owner is not None and prepared.direct_eligible:
            host, pid, lease_ms = owner
            run = runs.create(conn, request.workflow_name, target.id, request.trigger_type,
                              prepared.input_json, run_id=request.run_id, started=True,
                              schedule=_schedule(request))
            message = queue.enqueue_claimed(conn, run["id"], target.id, host, pid, lease_ms)
        else:
            run = runs.create(conn, request.workflow_name, target.id, request.trigger_type,
                              prepared.input_json, run_id=request.run_id,
                              schedule=_schedule(request))
            if request.enqueue:
                queue.enqueue_run(conn, run["id"], target.id, target.concurrency)
        text = json.dumps(run_json(run), separators=(",", ":"))
        if key is not None:
            idempotency.record(conn, key.scope, key.key, prepared.digest, 202, None,
                               run["id"], key.retention_ms, response_json=text)
        if on_created is not None:
            on_created(conn, run)
    return Started(run, text, message=message)


def _schedule(request: StartRequest) -> tuple[str, int | None] | None:
    if request.schedule_id is None:
        return None
    return request.schedule_id, request.scheduled_at


def _replay(conn: Connection, existing: Row, digest: str, key: Idempotency) -> Started:
    if existing["request_hash"] != digest:
        raise StartRefused(ErrorCode.IDEMPOTENCY_CONFLICT,
                           f"Idempotency key {key.key!r} was already used for a "
                           "different start (workflow, arguments or deployment).")
    run = runs.get(conn, existing["run_id"]) if existing["run_id"] else None
    return Started(run or {}, existing["response_json"], replayed=existing)


def start_run(conn: Connection, request: StartRequest,
              on_created: Callable[[Connection, Row], None] | None = None,
              max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES) -> Started:
    """``prepare`` and ``write`` in one transaction (joining the caller's): for callers
    off the hot path. Raises ``StartRefused``; the caller wakes an executor afterwards."""
    with conn.transaction():
        return write(conn, prepare(conn, request, max_payload_bytes), on_created=on_created)

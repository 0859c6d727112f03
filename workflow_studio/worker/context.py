"""The worker's per-app state and what a request reaches through it: the database handle
on ``flask.g``, the process's engine ``Runtime``, and the run a route is about."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from flask import current_app, g

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import parse_id
from workflow_studio.config.settings import Settings
from workflow_studio.engine.runs import StartRefused
from workflow_studio.engine.runtime import Runtime
from workflow_studio.storage import Connection, Database, Row
from workflow_studio.storage.world import runs
from workflow_studio.worker.deployments.loader import DeploymentLoader
from workflow_studio.worker.errors import ApiError

EXTENSION = "workflow_studio"


@dataclasses.dataclass
class WorkerState:
    """One app's state: created by the app factory, in the process that serves it."""

    settings: Settings
    db: Database
    runtime: Runtime
    loader: DeploymentLoader
    trusted_proxies: tuple[Any, ...]
    on_webhook: Any = None


def parse_networks(values: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def state() -> WorkerState:
    worker: WorkerState = current_app.extensions[EXTENSION]
    return worker


def runtime() -> Runtime:
    return state().runtime


def conn() -> Connection:
    """This request's connection (the thread's cached one; opened lazily)."""
    if "db_conn" not in g:
        g.db_conn = state().db.connection()
    connection: Connection = g.db_conn
    return connection


def run_or_404(run_id: str) -> Row:
    """The run with this id (and it becomes the request's audited run id); 400/404 else."""
    if parse_id(run_id, "wrun") is None:
        raise ApiError(ErrorCode.INVALID_RUN_ID, f"{run_id!r} is not a run id (wrun_...).")
    row = runs.get(conn(), run_id)
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No run with id {run_id!r}.")
    g.run_id = run_id
    return row


def start_refused(exc: StartRefused) -> ApiError:
    """The API's answer to a start the engine refused (its status is the code's)."""
    return ApiError(exc.code, exc.message, **exc.extra)

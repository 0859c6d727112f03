"""Where a CLI command acts: a remote worker (``--url``/``--api-key``), the local worker's
database, or (``runs`` commands) the local world's database, where an app's embedded world
keeps its runs. ``runs_target`` chooses, and never creates a database to read from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from click.core import ParameterSource

from workflow_studio.cli.output import fail, note
from workflow_studio.client import ComputeClient
from workflow_studio.config.local_world import local_world_settings
from workflow_studio.config.settings import Settings, load_settings
from workflow_studio.storage import Database, open_database

RunsTarget = Literal["remote", "worker", "local-world"]


def remote_options(required: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--url`` and ``--api-key`` (defaulting to the WORKFLOW_COMPUTE_* variables)."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option("--api-key", envvar="WORKFLOW_COMPUTE_API_KEY", show_envvar=True,
                          help="API key for the worker.")(fn)
        fn = click.option("--url", envvar="WORKFLOW_COMPUTE_BASE_URL", show_envvar=True,
                          required=required,
                          help="Worker base URL" + ("." if required else
                                                    " (omit to use the local database)."))(fn)
        return fn
    return decorate


def local_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--local``: act on the local world's database."""
    return click.option(
        "--local", is_flag=True,
        help="Use the local world's database (WORKFLOW_LOCAL_DB, default "
             "./.workflow-studio/local.db), where your app's ws.start() keeps its runs; "
             "automatic without --url when it is the only database here.")(fn)


def client(url: str, api_key: str | None) -> ComputeClient:
    if not api_key:
        raise click.UsageError("--api-key (or WORKFLOW_COMPUTE_API_KEY) is required with --url")
    return ComputeClient(url, api_key)


def local_settings(ctx: click.Context) -> Settings:
    return load_settings((ctx.obj or {}).get("config_path"))


def local_database(ctx: click.Context, *, as_worker: bool = False) -> Database:
    """The local worker database, migrated. Only the worker itself (``as_worker``) syncs
    seed keys: a shell without the worker's environment must not revoke them."""
    from workflow_studio.worker.app import create_app

    app = create_app(local_settings(ctx), sync_seeds=as_worker)
    db: Database = app.extensions["workflow_studio"].db
    db.connection()
    return db


def local_world_file() -> Path:
    """The local world's database, as an app started in this directory opens it."""
    return local_world_settings().db_file


def _worker_database(ctx: click.Context) -> tuple[str, bool]:
    """How to name the local worker's database, and whether it is there (PostgreSQL is)."""
    settings = local_settings(ctx)
    if settings.postgres_url:
        return f"PostgreSQL schema {settings.postgres_schema}", True
    return settings.sqlite_file, Path(settings.sqlite_file).is_file()


def runs_target(ctx: click.Context, url: str | None, local: bool,
                starting: bool = False) -> RunsTarget:
    """Where a ``runs`` command acts: ``--local`` the local world; else ``--url`` (or
    ``WORKFLOW_COMPUTE_BASE_URL``) the worker; else the local worker's database when it
    exists, else the local world's when that exists. A database that is not there is an
    error, never created empty (``runs start`` has no local world: an app starts those)."""
    if local:
        if url and ctx.get_parameter_source("url") is ParameterSource.COMMANDLINE:
            raise click.UsageError("--local and --url exclude each other")
        path = local_world_file()
        if not path.is_file():
            fail(f"no local world database at {path}: an app creates it with its first "
                 "ws.start() (set WORKFLOW_LOCAL_DB where the app keeps it elsewhere)")
        return "local-world"
    if url:
        return "remote"
    worker, worker_exists = _worker_database(ctx)
    local_world = local_world_file()
    if worker_exists:
        if local_world.is_file() and not starting:
            note(f"reading the worker database {worker}; add --local for the local "
                 f"world's {local_world}")
        return "worker"
    if starting:
        fail(f"no_active_deployment: no worker database at {worker}, so nothing is deployed "
             "here: pass --url (or set WORKFLOW_COMPUTE_BASE_URL) to start a run on a worker"
             + ("; runs of the local world start from your app's code (ws.start)"
                if local_world.is_file() else ""))
    if local_world.is_file():
        return "local-world"
    fail(f"no runs here: no worker URL (--url or WORKFLOW_COMPUTE_BASE_URL), no local world "
         f"database ({local_world}) and no worker database ({worker})")


__all__ = ["RunsTarget", "client", "local_database", "local_option", "local_settings",
           "local_world_file", "open_database", "remote_options", "runs_target"]

"""Where a CLI command acts: a remote worker (``--url``/``--api-key``) or the local database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from workflow_studio.client import ComputeClient
from workflow_studio.config.settings import Settings, load_settings
from workflow_studio.storage import Database, open_database


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


__all__ = ["client", "local_database", "local_settings", "open_database", "remote_options"]

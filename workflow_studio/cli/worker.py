"""``workflow-studio worker start|migrate``: run the worker under gunicorn."""

from __future__ import annotations

import os
import sys

import click

from workflow_studio.cli.target import local_database, local_settings
from workflow_studio.config.settings import Settings
from workflow_studio.storage import keys as keys_repo
from workflow_studio.worker.deployments.verify import sweep_incoming
from workflow_studio.worker.guard import check_target_world
from workflow_studio.worker.server import gunicorn_command


def describe_database(settings: Settings) -> str:
    """Where the worker keeps its state, for people (never a URL's password)."""
    if settings.postgres_url:
        from psycopg.conninfo import conninfo_to_dict
        try:
            info = conninfo_to_dict(settings.postgres_url)
        except Exception:
            info = {}
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"PostgreSQL {where}, schema {settings.postgres_schema}"
    return f"SQLite {settings.sqlite_file}"


@click.group("worker")
def command() -> None:
    """Run and prepare the compute worker."""


@command.command("start")
@click.option("--host", help="Address to bind (default 0.0.0.0).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default $PORT or 8080).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="gunicorn worker processes (default 2).")
@click.pass_context
def start(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Check the config, migrate the database, then exec gunicorn.

    On a first start with no API key configured, an admin key is created and printed once.
    SIGTERM shuts down gracefully; SIGHUP reloads workers.
    """
    settings = local_settings(ctx)
    check_target_world(settings)
    db = local_database(ctx, as_worker=True)
    conn = db.connection()
    if keys_repo.count(conn) == 0:
        with conn.transaction():
            _, secret = keys_repo.create(conn, "first-admin", ["admin"], source="cli")
        click.echo("Created the first admin API key (shown only once, store it now):")
        click.echo(f"  {secret}")
    db.close()
    swept = sweep_incoming(settings.artifact_path)
    if swept:
        click.echo(f"Removed {swept} unfinished upload(s) left in {settings.artifact_path}")
    bind = f"{host or settings.host}:{settings.port if port is None else port}"
    config_path = (ctx.obj or {}).get("config_path")
    if config_path:
        os.environ["WORKFLOW_STUDIO_CONFIG"] = os.path.abspath(config_path)
    click.echo(f"Starting worker on http://{bind} (database {describe_database(settings)})")
    sys.stdout.flush()
    argv = gunicorn_command("--bind", bind, "--workers", str(workers or settings.workers))
    os.execv(argv[0], argv)


@command.command("migrate")
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema (for a Procfile `release:` phase)."""
    db = local_database(ctx, as_worker=True)
    db.close()
    click.echo(f"Database ready: {describe_database(local_settings(ctx))}")

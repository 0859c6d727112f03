"""The app factory: settings in, a Flask WSGI app with every blueprint and hook out.

Creating the app opens no database connection; the first request (or gunicorn's
``post_worker_init``) does, in the process that will use it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from workflow_studio.config.environment import Redactor
from workflow_studio.config.settings import ConfigError, Settings, load_settings
from workflow_studio.engine.runtime import Runtime
from workflow_studio.storage import keys as keys_repo
from workflow_studio.storage import open_database
from workflow_studio.worker import auditing, correlation, limits, security
from workflow_studio.worker.context import EXTENSION, WorkerState, parse_networks
from workflow_studio.worker.deployments.fetch import database_fetcher
from workflow_studio.worker.deployments.loader import DeploymentLoader
from workflow_studio.worker.errors import register_error_handlers
from workflow_studio.worker.guard import check_target_world
from workflow_studio.worker.routes import register

log = logging.getLogger("workflow_studio.worker")


def create_app(settings: Settings, *, sync_seeds: bool = True) -> Flask:
    """Build the worker app for resolved ``settings``.

    ``sync_seeds=False`` is for tools (the local ``keys``/``audit`` commands) that open the
    worker's database without its environment: they must not retire the worker's seed keys.
    """
    check_target_world(settings)
    app = Flask("workflow_studio.worker")
    # Every route's cap; worker.limits raises it for the views that declare more.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_json_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    try:
        networks = parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"worker.security.trusted_proxies: {exc}") from None
    # PGPASSWORD goes into the connection string: a worker process drops it from its
    # environment before user code runs (gunicorn_conf.post_worker_init).
    db = open_database(settings, environ=os.environ)

    def seed_keys(conn: Any) -> None:
        revoked = keys_repo.sync_seeds(conn, [
            (seed.key, seed.name, seed.scopes, seed.rate_limit_per_minute)
            for seed in settings.seed_api_keys])
        if revoked:
            log.warning("revoked %d seed key(s) no longer configured: %s", len(revoked),
                        ", ".join(revoked))

    if sync_seeds:
        db.on_ready(seed_keys)
    app.extensions[EXTENSION] = WorkerState(
        settings=settings, db=db,
        runtime=Runtime(db, threads=settings.threads,
                        max_payload_bytes=settings.max_payload_bytes,
                        redactor=Redactor.for_settings(settings, os.environ)),
        loader=DeploymentLoader(settings.artifact_path, database_fetcher(db, settings)),
        trusted_proxies=networks, on_webhook=settings.on_webhook)
    correlation.init_app(app)   # first: every later hook and log line has the id
    security.init_app(app)
    limits.init_app(app)        # after auth: a body is refused only to those allowed to send
    auditing.init_app(app)
    register_error_handlers(app)
    register(app)
    return app


def create_compute_worker(config_path: str | None = None, **options: Any) -> Flask:
    """The WSGI app for the given options (seed 001's ``createComputeWorker``)."""
    return create_app(load_settings(config_path, options=options or None))

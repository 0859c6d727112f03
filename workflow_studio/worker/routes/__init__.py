"""One blueprint per route group; ``register`` wires them all into the app."""

from __future__ import annotations

from flask import Flask

from workflow_studio.worker.routes import (
    audit,
    deployments,
    health,
    keys,
    openapi,
    runs,
    schedules,
    secrets,
    webhooks,
    world_proxy,
)


def register(app: Flask) -> None:
    for module in (health, openapi, keys, audit, deployments, runs, schedules, secrets,
                   webhooks, world_proxy):
        app.register_blueprint(module.bp)
    webhooks.init_app(app)
    secrets.init_app(app)

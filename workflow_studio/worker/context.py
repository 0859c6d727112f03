"""The worker's per-app state and the per-request database handle on ``flask.g``."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from flask import current_app, g

from workflow_studio.config.settings import Settings
from workflow_studio.storage import Connection, Database

EXTENSION = "workflow_studio"


@dataclasses.dataclass
class WorkerState:
    settings: Settings
    db: Database
    trusted_proxies: tuple[Any, ...]
    on_webhook: Any = None


def parse_networks(values: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def state() -> WorkerState:
    return current_app.extensions[EXTENSION]


def conn() -> Connection:
    """This request's connection (the thread's cached one; opened lazily)."""
    if "db_conn" not in g:
        g.db_conn = state().db.connection()
    return g.db_conn

"""``GET /v1/health``: the one route load balancers and runbooks poll without a key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.version import __version__
from workflow_studio.worker.context import conn
from workflow_studio.worker.security import plain_http_ok, public

bp = Blueprint("health", __name__)


@bp.get("/v1/health")
@public
@plain_http_ok
def health() -> Any:
    active = deployments_repo.active_summary(conn())  # DatabaseUnavailable -> 503 envelope
    return {"status": "ok", "version": __version__, "database": "ok",
            "activeDeployment": ({"id": active["id"], "version": active["version"]}
                                 if active else None)}

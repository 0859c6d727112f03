"""``GET /v1/audit``: forensic queries by correlation id or key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from workflow_studio.compute.clock import iso
from workflow_studio.compute.scopes import Scope
from workflow_studio.storage import audit as audit_repo
from workflow_studio.worker.context import conn
from workflow_studio.worker.http import query_args
from workflow_studio.worker.schemas.common import AuditQuerySchema
from workflow_studio.worker.security import requires

bp = Blueprint("audit", __name__)
_query = AuditQuerySchema()


@bp.get("/v1/audit")
@requires(Scope.ADMIN)
def list_audit() -> Any:
    args = query_args(_query)
    limit = args["limit"]
    rows = audit_repo.query(conn(), correlation_id=args["correlation_id"] or args["correlationId"],
                            key_id=args["key_id"], after_id=args["cursor"], limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": [{
            "id": r["id"], "createdAt": iso(r["created_at"]), "keyId": r["key_id"],
            "method": r["method"], "route": r["route"], "path": r["path"],
            "status": r["status"], "correlationId": r["correlation_id"], "runId": r["run_id"],
            "metadata": r["metadata"],
        } for r in rows],
        "cursor": str(rows[-1]["id"]) if more and rows else None,
        "hasMore": more,
    }

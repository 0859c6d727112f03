"""The shared protocol between worker and client: ids, scopes, error codes, schemas.

Nothing here imports Flask, requests or the worker: both sides depend on this, never the
other way round.
"""

from workflow_studio.compute.errors import ErrorCode, runbook_action
from workflow_studio.compute.ids import new_id, parse_id
from workflow_studio.compute.scopes import ALL_SCOPES, Scope, has_scope

__all__ = [
    "ALL_SCOPES",
    "ErrorCode",
    "Scope",
    "has_scope",
    "new_id",
    "parse_id",
    "runbook_action",
]

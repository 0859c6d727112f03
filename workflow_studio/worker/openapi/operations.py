"""What the OpenAPI document says about each view, keyed by its Flask endpoint.

The URL map says which paths and methods exist and each view's ``@requires``/``@public``
marks say who may call it; this table adds what neither can: the request's schemas, the
success statuses with their response schemas, the error codes the route itself raises (the
ones every route shares, such as 401 or 503, are added by ``worker.openapi.build``), and
links between operations. A route without an entry here is still published (as
``x-undocumented``) and ``tests/contract`` fails until it gets one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from marshmallow import Schema

from workflow_studio.compute.errors import ErrorCode as E
from workflow_studio.compute.manifest import SECRET_NAME
from workflow_studio.worker.schemas import common, deployments, runs, secrets, world_proxy
from workflow_studio.worker.schemas import responses as out
from workflow_studio.worker.schemas import schedules as sch
from workflow_studio.worker.webhooks.signatures import VERIFIERS

Link = tuple[str, Mapping[str, str]]  # (operationId, {parameter: runtime expression})


@dataclasses.dataclass(frozen=True)
class Operation:
    """One view's contract beyond what the URL map and its scope mark say."""

    summary: str
    ok: Mapping[int, type[Schema] | None]        # success status -> body schema (None: none)
    body: type[Schema] | None = None             # JSON request body
    query: type[Schema] | None = None            # query-string parameters
    form: type[Schema] | None = None             # multipart/form-data request body
    raw_body: bool = False                       # any bytes (webhooks: signed as sent)
    errors: tuple[E, ...] = ()                   # codes this route raises itself
    headers: tuple[Mapping[str, Any], ...] = ()  # header parameters
    path: Mapping[str, Mapping[str, Any]] = dataclasses.field(  # path parameter schemas
        default_factory=dict)
    links: Mapping[int, Mapping[str, Link]] = dataclasses.field(default_factory=dict)
    example: Any = None                          # request body example
    description: str = ""


IDEMPOTENCY_KEY = MappingProxyType({
    "name": "Idempotency-Key", "in": "header", "required": True,
    "description": "Required (409 idempotency_required without it). The same key with the same "
                   "payload replays the first response with `Idempotent-Replayed: true`; "
                   "with a different payload it is 409 idempotency_conflict.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^\S(.*\S)?$",
               "example": "order-42"},
})
_ID = "$response.body#/id"
_RUN_LINKS: Mapping[str, Link] = MappingProxyType({
    "GetRun": ("runs.get_run", {"run_id": _ID}),
    "GetRunEvents": ("runs.run_events", {"run_id": _ID}),
    "GetRunSteps": ("runs.run_steps", {"run_id": _ID}),
    "CancelRun": ("runs.cancel_run", {"run_id": _ID}),
})
_FIRST_RUN = MappingProxyType({"run_id": "$response.body#/data/0/id"})
_FIRST_DEPLOYMENT = MappingProxyType({"deployment_id": "$response.body#/data/0/id"})
_SECRET_NAME = MappingProxyType({"name": MappingProxyType(
    {"type": "string", "pattern": SECRET_NAME.pattern, "example": "STRIPE_KEY"})})
_SECRET_LINKS: Mapping[str, Link] = MappingProxyType({
    "DeleteSecret": ("secrets.delete_secret", {"name": "$response.body#/name"})})
_RUN_ERRORS = (E.INVALID_RUN_ID, E.NOT_FOUND)
_PROXY_RUN = (E.INVALID_RUN_ID, E.NOT_FOUND)

_SCHEDULE_PATH = MappingProxyType({"schedule_id": MappingProxyType({
    "type": "string", "minLength": 1, "maxLength": 128, "pattern": sch.REF_PATTERN,
    "description": "the schedule's id (sch_...) or its name"})})
_SCHEDULE_LINKS: Mapping[str, Link] = MappingProxyType({
    "GetSchedule": ("schedules.get_schedule", {"schedule_id": _ID}),
    "PreviewSchedule": ("schedules.preview_schedule", {"schedule_id": _ID}),
    "PauseSchedule": ("schedules.pause_schedule", {"schedule_id": _ID}),
})
_FIRST_SCHEDULE = MappingProxyType({"schedule_id": "$response.body#/data/0/id"})
_SCHEDULE_WRITE = (E.INVALID_SCHEDULE, E.CONFLICT, E.PAYLOAD_TOO_LARGE)

OPERATIONS: Mapping[str, Operation] = MappingProxyType({
    # -- health and the contract itself ------------------------------------------------
    "health.health": Operation(
        "Liveness, database reachability and the active deployment", {200: out.HealthSchema},
        description="Public and answered over plain HTTP too (load balancers probe it)."),
    "openapi.openapi_document": Operation(
        "This OpenAPI 3.1 document", {200: out.OpenApiDocumentSchema, 304: None},
        description="Public and cacheable: `ETag` and `Cache-Control`; 304 without a body "
                    "when `If-None-Match` holds the current ETag."),
    # -- keys and audit ------------------------------------------------------------------
    "keys.create_key": Operation(
        "Create an API key (its secret is shown once)", {201: out.CreatedKeySchema},
        body=common.CreateKeySchema,
        example={"name": "web-app", "scopes": ["trigger:write", "runs:read"]},
        links={201: {"RevokeKey": ("keys.revoke_key", {"key_id": _ID})}}),
    "keys.list_keys": Operation("List API keys (never their secrets)", {200: out.KeyListSchema}),
    "keys.current_key": Operation(
        "The calling key's own record", {200: out.KeySchema}, errors=(E.NOT_FOUND,)),
    "keys.revoke_key": Operation(
        "Revoke an API key", {200: out.KeySchema}, errors=(E.NOT_FOUND,)),
    "audit.list_audit": Operation(
        "Audit entries, oldest first, by correlation id or key", {200: out.AuditPageSchema},
        query=common.AuditQuerySchema),
    # -- deployments ---------------------------------------------------------------------
    "deployments.upload_deployment": Operation(
        "Upload an artifact and its manifest", {201: out.DeploymentSchema},
        form=deployments.UploadSchema,
        errors=(E.INVALID_MANIFEST, E.INVALID_ARTIFACT, E.INVALID_REQUEST, E.PAYLOAD_TOO_LARGE),
        links={201: {
            "GetDeployment": ("deployments.get_deployment", {"deployment_id": _ID}),
            "ActivateDeployment": ("deployments.activate_deployment",
                                   {"deployment_id": _ID})}},
        description="Every member is checked against the manifest while the upload streams; "
                    "a rejected upload leaves nothing behind."),
    "deployments.activate_deployment": Operation(
        "Activate a deployment (rollback: activate an older one)",
        {200: out.ActiveDeploymentSchema},
        errors=(E.INVALID_DEPLOYMENT_ID, E.NOT_FOUND, E.ACTIVATION_FAILED, E.INVALID_SCHEDULE,
                E.CONFLICT),
        description="Imports the artifact in a subprocess first, and checks that every "
                    "secret it declares is set (else 400 activation_failed with "
                    "`missingSecrets`); a broken artifact never becomes active."),
    "deployments.active_deployment": Operation(
        "The active deployment", {200: out.ActiveDeploymentSchema},
        errors=(E.NO_ACTIVE_DEPLOYMENT,)),
    "deployments.get_deployment": Operation(
        "One deployment", {200: out.DeploymentSchema},
        errors=(E.INVALID_DEPLOYMENT_ID, E.NOT_FOUND)),
    "deployments.list_deployments": Operation(
        "Deployments, newest first", {200: out.DeploymentPageSchema},
        query=deployments.DeploymentListQuerySchema,
        links={200: {"GetDeployment": ("deployments.get_deployment", _FIRST_DEPLOYMENT)}}),
    # -- named secrets -------------------------------------------------------------------
    "secrets.set_secret": Operation(
        "Set a named secret (create it, or rotate its value)",
        {201: secrets.SecretSchema, 200: secrets.SecretSchema}, body=secrets.SetSecretSchema,
        path=_SECRET_NAME, example={"value": "sk_live_..."},
        links={201: _SECRET_LINKS, 200: _SECRET_LINKS},
        description="201 when created, 200 when replaced (the version goes up). Stored "
                    "encrypted; no route ever returns the value. Steps that start after "
                    "this answer read the new value, on every process and node."),
    "secrets.list_secrets": Operation(
        "Named secrets: names, versions, who set them when (never a value)",
        {200: secrets.SecretListSchema}),
    "secrets.delete_secret": Operation(
        "Delete a named secret", {200: secrets.SecretSchema},
        query=secrets.DeleteSecretQuerySchema, path=_SECRET_NAME,
        errors=(E.NOT_FOUND, E.SECRET_IN_USE),
        description="409 secret_in_use when the active deployment declares it, unless "
                    "`force=true`."),
    # -- runs ----------------------------------------------------------------------------
    "runs.trigger_run": Operation(
        "Start a run (idempotent)", {202: out.RunSchema, 200: out.RunSchema},
        body=runs.TriggerRunSchema, query=runs.TriggerQuerySchema, headers=(IDEMPOTENCY_KEY,),
        errors=(E.UNKNOWN_WORKFLOW, E.INVALID_DEPLOYMENT_ID, E.NOT_FOUND, E.CONFLICT,
                E.NO_ACTIVE_DEPLOYMENT, E.IDEMPOTENCY_REQUIRED, E.IDEMPOTENCY_CONFLICT),
        example={"workflowName": "checkout", "args": [42], "kwargs": {}},
        links={202: _RUN_LINKS, 200: _RUN_LINKS},
        description="202 with the run as created; with `?wait=S` 200 once it ended within S "
                    "seconds, else 202 with its state then. No `deploymentId`: the active "
                    "deployment."),
    "runs.get_run": Operation(
        "One run (long-polls with ?wait=S until it ends)", {200: out.RunSchema},
        query=runs.GetRunQuerySchema, errors=_RUN_ERRORS),
    "runs.list_runs": Operation(
        "Runs, newest first, by status, workflow, trigger type and creation time",
        {200: out.RunSummaryPageSchema}, query=runs.ListRunsQuerySchema,
        links={200: {"GetRun": ("runs.get_run", _FIRST_RUN)}}),
    "runs.run_events": Operation(
        "A run's events in order", {200: out.EventPageSchema}, query=runs.PageQuerySchema,
        errors=_RUN_ERRORS),
    "runs.run_steps": Operation("A run's steps", {200: out.StepPageSchema}, errors=_RUN_ERRORS),
    "runs.run_stream": Operation(
        "A run's stream chunks after a cursor", {200: out.RunStreamSchema},
        query=runs.PageQuerySchema, errors=_RUN_ERRORS),
    "runs.cancel_run": Operation(
        "Cancel a pending or running run", {200: out.RunSchema},
        errors=(*_RUN_ERRORS, E.RUN_TERMINAL)),
    "runs.resume_hook": Operation(
        "Resume the hook waiting on a token with a payload", {202: out.ResumedSchema},
        body=runs.ResumeHookSchema, errors=(E.NOT_FOUND, E.CONFLICT),
        example={"token": "approve-42", "payload": True}),
    # -- schedules -----------------------------------------------------------------------
    "schedules.create_schedule": Operation(
        "Create a schedule (cron and/or interval)", {201: sch.ScheduleSchema},
        body=sch.CreateScheduleSchema, errors=_SCHEDULE_WRITE,
        example={"name": "nightly-report", "workflowName": "report", "cron": ["0 3 * * *"],
                 "timezone": "Europe/Berlin"},
        links={201: _SCHEDULE_LINKS},
        description="Its first tick is the spec's first after now. A bad cron expression "
                    "or zone is 400 `invalid_schedule` naming the field (and the "
                    "character)."),
    "schedules.list_schedules": Operation(
        "Schedules, oldest first", {200: sch.SchedulePageSchema},
        query=sch.ScheduleListQuerySchema,
        links={200: {"GetSchedule": ("schedules.get_schedule", _FIRST_SCHEDULE)}}),
    "schedules.get_schedule": Operation(
        "One schedule with its newest ticks and their runs", {200: sch.ScheduleDetailSchema},
        query=sch.ScheduleQuerySchema, path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,)),
    "schedules.update_schedule": Operation(
        "Change a schedule", {200: sch.ScheduleSchema}, body=sch.PatchScheduleSchema,
        path=_SCHEDULE_PATH, errors=(E.NOT_FOUND, *_SCHEDULE_WRITE),
        example={"cron": ["0 4 * * *"]},
        description="A changed spec goes on with its first tick after now."),
    "schedules.delete_schedule": Operation(
        "Delete a schedule (its runs are kept)", {200: sch.DeletedScheduleSchema},
        path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,)),
    "schedules.pause_schedule": Operation(
        "Pause a schedule, with a note", {200: sch.ScheduleSchema}, body=sch.PauseSchema,
        path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,), example={"note": "maintenance"}),
    "schedules.resume_schedule": Operation(
        "Resume a paused schedule", {200: sch.ScheduleSchema}, body=sch.ResumeScheduleSchema,
        path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,),
        description="The ticks due while it was paused are recorded as `paused`; it goes "
                    "on with the first tick after now."),
    "schedules.trigger_schedule": Operation(
        "Fire a schedule now (uses no tick)", {202: sch.TriggeredSchema},
        body=sch.TriggerScheduleSchema, path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,),
        example={"overlap": "allow_all"}),
    "schedules.backfill_schedule": Operation(
        "Fire the schedule's past ticks in a range", {202: sch.BackfillResultSchema,
                                                      200: sch.BackfillResultSchema},
        body=sch.BackfillSchema, path=_SCHEDULE_PATH, errors=(E.NOT_FOUND, E.INVALID_SCHEDULE),
        example={"from": "2024-06-01T00:00:00Z", "to": "2024-06-02T00:00:00Z",
                 "dryRun": True},
        description="200 for a dry run (the ticks it would fire), else 202. Ticks that "
                    "fired already are left alone; `overlap` defaults to the schedule's."),
    "schedules.preview_schedule": Operation(
        "The next fire times, in UTC and in the schedule's zone", {200: sch.PreviewSchema},
        query=sch.PreviewQuerySchema, path=_SCHEDULE_PATH, errors=(E.NOT_FOUND,)),
    # -- webhooks ------------------------------------------------------------------------
    "webhooks.receive": Operation(
        "A provider's signed webhook delivery", {200: out.WebhookReceiptSchema},
        raw_body=True,
        errors=(E.NOT_FOUND, E.INVALID_SIGNATURE, E.PAYLOAD_TOO_LARGE,
                E.WEBHOOK_HANDLER_FAILED),
        path={"provider": {"type": "string", "enum": sorted(VERIFIERS)}},
        description="No API key: the provider's signature over the raw body is the "
                    "credential. A delivery seen before answers `duplicate: true`."),
    "webhooks.resume_webhook": Operation(
        "Resume a `create_webhook()` hook by its signed URL", {202: out.ResumedSchema},
        raw_body=True, errors=(E.INVALID_SIGNATURE, E.NOT_FOUND, E.CONFLICT,
                               E.PAYLOAD_TOO_LARGE),
        description="No API key: the signed token is the credential. The body (JSON, else "
                    "text) becomes the hook's payload."),
    # -- world proxy ---------------------------------------------------------------------
    "world_proxy.queue_publish": Operation(
        "Make a run's next execution due", {202: out.QueuedSchema},
        body=world_proxy.PublishSchema, errors=(*_PROXY_RUN, E.RUN_TERMINAL)),
    "world_proxy.deployment_id": Operation(
        "The active deployment's id", {200: out.DeploymentIdSchema},
        errors=(E.NO_ACTIVE_DEPLOYMENT,)),
    "world_proxy.create_event": Operation(
        "Write an event and update its entity in one transaction",
        {201: out.EventWrittenSchema, 200: out.EventWrittenSchema},
        body=world_proxy.CreateEventSchema,
        errors=(*_PROXY_RUN, E.CONFLICT, E.RUN_TERMINAL, E.TOO_EARLY, E.UNKNOWN_WORKFLOW,
                E.INVALID_DEPLOYMENT_ID, E.NO_ACTIVE_DEPLOYMENT),
        example={"runId": None, "eventType": "run_created",
                 "eventData": {"workflowName": "checkout"}},
        links={201: {"GetWorldRun": ("world_proxy.get_run",
                                     {"run_id": "$response.body#/events/0/runId"})}},
        description="201 when events were written, 200 when the event changed nothing "
                    "(e.g. a repeated run_started). An early step_started is 425 with "
                    "Retry-After."),
    "world_proxy.list_events": Operation(
        "A run's events", {200: out.EventPageSchema}, body=world_proxy.RunPageSchema,
        errors=_PROXY_RUN),
    "world_proxy.list_events_by_correlation": Operation(
        "Events by correlation id", {200: out.EventPageSchema},
        body=world_proxy.CorrelationPageSchema),
    "world_proxy.get_event": Operation("One event", {200: out.EventSchema},
                                       errors=(E.NOT_FOUND,)),
    "world_proxy.list_runs": Operation(
        "Runs", {200: out.RunSummaryPageSchema}, body=world_proxy.RunsListSchema,
        links={200: {"GetWorldRun": ("world_proxy.get_run", _FIRST_RUN)}}),
    "world_proxy.get_run": Operation("One run", {200: out.RunSchema}, errors=_PROXY_RUN),
    "world_proxy.get_step": Operation("One step", {200: out.StepSchema}, errors=(E.NOT_FOUND,)),
    "world_proxy.list_steps": Operation(
        "A run's steps", {200: out.StepPageSchema}, body=world_proxy.RunPageSchema,
        errors=_PROXY_RUN),
    "world_proxy.get_hook": Operation("One hook", {200: out.HookSchema}, errors=(E.NOT_FOUND,)),
    "world_proxy.get_hook_by_token": Operation(
        "The live hook with a token, else the newest that had it", {200: out.HookSchema},
        errors=(E.NOT_FOUND,)),
    "world_proxy.list_hooks": Operation(
        "Hooks, of one run or all", {200: out.HookPageSchema}, body=world_proxy.HooksListSchema,
        errors=_PROXY_RUN),
    "world_proxy.stream_write": Operation(
        "Append chunks to a run's stream", {201: out.StreamWrittenSchema},
        body=world_proxy.StreamWriteSchema, errors=(*_PROXY_RUN, E.CONFLICT)),
    "world_proxy.stream_close": Operation(
        "Close a run's stream", {200: out.StreamInfoSchema}, body=world_proxy.StreamCloseSchema,
        errors=_PROXY_RUN),
    "world_proxy.stream_read": Operation(
        "A run's stream chunks after a cursor", {200: out.ChunkPageSchema},
        query=world_proxy.StreamReadQuerySchema, errors=_PROXY_RUN),
    "world_proxy.stream_info": Operation(
        "A stream's chunk count, last position and whether it is closed",
        {200: out.StreamInfoSchema}, query=world_proxy.StreamReadQuerySchema,
        errors=_PROXY_RUN),
    "world_proxy.stream_list": Operation(
        "A run's stream names", {200: out.StreamNamesSchema},
        query=world_proxy.StreamListQuerySchema, errors=_PROXY_RUN),
    "world_proxy.encryption_key": Operation(
        "A per-run key derived from the server secret (never the secret)",
        {200: out.EncryptionKeyOutSchema}, body=world_proxy.EncryptionKeySchema,
        errors=_PROXY_RUN),
})

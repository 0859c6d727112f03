"""Deployment routes: upload (verify + unpack), activate (prove + switch), and reads.

Uploads are parsed here rather than through ``request.files`` so every spooled part lives in
an anonymous temporary file inside artifact_dir (never visible, gone when closed) and every
client mistake maps to a 400 of the invalid_manifest family instead of a generic error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, g, request
from marshmallow import ValidationError
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data

from workflow_studio.compute.clock import iso
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import new_id, parse_id
from workflow_studio.compute.manifest import MAX_MANIFEST_BYTES
from workflow_studio.compute.scopes import Scope
from workflow_studio.engine.schedules import service as schedules
from workflow_studio.storage import deployments as repo
from workflow_studio.worker.context import conn, state
from workflow_studio.worker.deployments.activation import ActivationError, prove_importable
from workflow_studio.worker.deployments.fetch import database_fetcher
from workflow_studio.worker.deployments.loader import (
    DeploymentLoadError,
    ensure_unpacked,
    read_unpacked_manifest,
)
from workflow_studio.worker.deployments.verify import (
    ArtifactRejected,
    Limits,
    remove_unpacked,
    verify_and_unpack,
)
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.http import query_args
from workflow_studio.worker.limits import MALFORMED_BODY, body_limit
from workflow_studio.worker.schemas.deployments import (
    DeploymentListQuerySchema,
    DeploymentSettingsSchema,
)
from workflow_studio.worker.security import requires

bp = Blueprint("deployments", __name__)
_settings_schema = DeploymentSettingsSchema()
_list_query = DeploymentListQuerySchema()
_SETTING_FIELDS = ("concurrency", "stepTimeout", "defaultRetries")
UPLOAD_OVERHEAD = MAX_MANIFEST_BYTES + 64 * 1024  # the manifest, settings and multipart framing


def deployment_json(row: dict[str, Any], active_id: str | None) -> dict[str, Any]:
    manifest = row["manifest"]
    return {
        "id": row["id"], "version": row["version"], "status": row["status"],
        "active": row["id"] == active_id,
        "artifactSha256": row["artifact_sha256"], "artifactSize": row["artifact_size"],
        "workflows": row["workflows"], "steps": row["steps"],
        "modules": manifest.get("modules", []),
        "pythonVersion": manifest.get("python_version"), "builtAt": manifest.get("built_at"),
        "distributions": [{"name": d.get("name"), "version": d.get("version")}
                          for d in manifest.get("distributions", [])],
        "secrets": [{"name": s.get("name"), "asEnv": bool(s.get("as_env"))}
                    for s in manifest.get("secrets", [])],
        "settings": {"concurrency": row["concurrency"], "stepTimeout": row["step_timeout"],
                     "defaultRetries": row["default_retries"]},
        "createdAt": iso(row["created_at"]), "createdByKeyId": row["created_by_key_id"],
        "activatedAt": iso(row["activated_at"]),
        "activatedByKeyId": row["activated_by_key_id"],
    }


def _active_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**deployment_json(row, row["id"]),
            "activatedAt": iso(row["pointer_activated_at"]),
            "activatedByKeyId": row["pointer_activated_by_key_id"],
            "previousDeploymentId": row["previous_deployment_id"]}


def _deployment_id(value: str) -> str:
    if parse_id(value, "dpl") is None:
        raise ApiError(ErrorCode.INVALID_DEPLOYMENT_ID,
                       f"{value!r} is not a deployment id (expected dpl_ followed by a ULID).")
    return value


def _existing(deployment_id: str) -> dict[str, Any]:
    row = repo.get(conn(), _deployment_id(deployment_id))
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"No deployment with id {deployment_id!r}.")
    return row


def _parse_upload(base: Path) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    if request.mimetype != "multipart/form-data":
        raise ApiError(ErrorCode.INVALID_ARTIFACT,
                       "Send the upload as multipart/form-data with the parts 'manifest' and "
                       f"'artifact' (got {request.mimetype or 'no content type'}).")
    limit = state().settings.max_artifact_bytes + UPLOAD_OVERHEAD

    def spool(*_: Any, **__: Any) -> IO[bytes]:
        return tempfile.TemporaryFile(dir=base)  # type: ignore[return-value]

    try:
        _, form, files = parse_form_data(request.environ, stream_factory=spool, silent=False,
                                         max_content_length=limit,
                                         max_form_memory_size=MAX_MANIFEST_BYTES + 1,
                                         max_form_parts=20)
    except RequestEntityTooLarge:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE,
                       f"The upload is larger than this worker accepts ({limit} bytes).") from None
    except (ValueError, *MALFORMED_BODY) as exc:
        raise ApiError(ErrorCode.INVALID_ARTIFACT,
                       f"The multipart body cannot be parsed: {exc}") from None
    return form, files


def _manifest_bytes(form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> bytes:
    if "manifest" in files:
        raw = files["manifest"].stream.read(MAX_MANIFEST_BYTES + 1)
    elif "manifest" in form:
        raw = form["manifest"].encode("utf-8")
    else:
        raise ApiError(ErrorCode.INVALID_MANIFEST,
                       "The upload has no 'manifest' part (send manifest.json as 'manifest').")
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ApiError(ErrorCode.INVALID_MANIFEST,
                       f"The manifest is larger than {MAX_MANIFEST_BYTES} bytes.")
    return raw


def _upload_settings(form: MultiDict[str, str]) -> dict[str, Any]:
    given = {k: form[k] for k in _SETTING_FIELDS if form.get(k, "") != ""}
    try:
        return _settings_schema.load(given)
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, "The deployment settings are invalid.",
                       fields=exc.messages) from None


@bp.post("/v1/deployments")
@requires(Scope.DEPLOY_WRITE)
@body_limit("max_artifact_bytes", UPLOAD_OVERHEAD)
def upload_deployment() -> Any:
    settings = state().settings
    base = Path(settings.artifact_path)
    base.mkdir(parents=True, exist_ok=True)
    form, files = _parse_upload(base)
    try:
        manifest_raw = _manifest_bytes(form, files)
        if "artifact" not in files:
            raise ApiError(ErrorCode.INVALID_ARTIFACT,
                           "The upload has no 'artifact' file part (send the .tar.gz as "
                           "'artifact').")
        values = _upload_settings(form)
        deployment_id = new_id("dpl")
        limits = Limits(settings.max_artifact_bytes, settings.max_unpacked_bytes,
                        settings.max_artifact_files)
        try:
            verified = verify_and_unpack(manifest_raw, files["artifact"].stream, base,
                                         deployment_id, limits)
        except ArtifactRejected as exc:
            raise ApiError(exc.code, exc.message) from None
        manifest = verified.manifest
        stored = None
        if state().db.dialect == "postgres":  # other nodes fetch it from the database
            stream = files["artifact"].stream
            stream.seek(0)
            stored = (manifest_raw, stream.read())
        try:
            row = repo.create(
                conn(), deployment_id=deployment_id, manifest=manifest.to_dict(),
                artifact_sha256=manifest.artifact_sha256, artifact_size=manifest.artifact_size,
                workflows=list(manifest.workflows), steps=list(manifest.steps),
                created_by_key_id=g.get("key_id"), concurrency=values["concurrency"],
                step_timeout=values["stepTimeout"], default_retries=values["defaultRetries"],
                artifact=stored)
        except BaseException:
            remove_unpacked(base, deployment_id)  # no record, no files
            raise
    finally:
        for storage in files.values():
            storage.close()
    return deployment_json(row, repo.active_id(conn())), 201


@bp.post("/v1/deployments/<deployment_id>/activate")
@requires(Scope.DEPLOY_WRITE)
def activate_deployment(deployment_id: str) -> Any:
    row = _existing(deployment_id)
    settings = state().settings
    try:
        root = ensure_unpacked(settings.artifact_path, row["id"],
                               database_fetcher(state().db, settings))
        manifest = read_unpacked_manifest(root)
        prove_importable(root / "src", manifest, settings.activation_timeout,
                         settings.env_passthrough, root / "deps")
    except (DeploymentLoadError, ActivationError) as exc:
        # The text comes from the uploaded code: bounded, and no secret value in it.
        message = (f"Deployment {row['id']} (version {row['version']}) cannot be "
                   f"activated; the active pointer did not move: {exc}")
        raise ApiError(ErrorCode.ACTIVATION_FAILED, state().runtime.redactor.text(message),
                       deploymentId=row["id"]) from None
    try:
        with conn().transaction():  # the pointer and the config's schedules move together
            active = repo.activate(conn(), row["id"], g.get("key_id"),
                                   required_secrets=manifest.secret_names)
            _reconcile_schedules(row, manifest.schedules)
    except repo.MissingSecrets as exc:
        commands = "; ".join(f"`workflow-studio secrets set {n}`" for n in exc.names)
        raise ApiError(ErrorCode.ACTIVATION_FAILED,
                       f"Deployment {row['id']} (version {row['version']}) cannot be "
                       f"activated; the active pointer did not move: it declares secrets "
                       f"that are not set on this worker: {', '.join(exc.names)}. Set each "
                       f"with {commands}, then activate again.",
                       deploymentId=row["id"], missingSecrets=exc.names) from None
    return _active_json(active)


def _reconcile_schedules(row: dict[str, Any], definitions: Any) -> None:
    """The deployment's config-defined schedules, created or updated (README, Schedules);
    a bad one refuses the activation (400 ``invalid_schedule``, naming it)."""
    try:
        schedules.reconcile(conn(), row["id"], definitions, state().runtime.clock.now_ms(),
                            state().settings.max_payload_bytes)
    except schedules.ScheduleInvalid as exc:
        raise ApiError(exc.code, f"Deployment {row['id']} (version {row['version']}) cannot "
                       f"be activated; the active pointer did not move: {exc}",
                       field=exc.field, deploymentId=row["id"]) from None
    except schedules.ScheduleConflict as exc:
        raise ApiError(ErrorCode.CONFLICT, f"Deployment {row['id']} cannot be activated: "
                       f"{exc}", deploymentId=row["id"]) from None


@bp.get("/v1/deployments/active")
@requires(Scope.DEPLOY_READ)
def active_deployment() -> Any:
    row = repo.get_active(conn())
    if row is None:
        raise ApiError(ErrorCode.NO_ACTIVE_DEPLOYMENT,
                       "No deployment is active on this worker.")
    return _active_json(row)


@bp.get("/v1/deployments/<deployment_id>")
@requires(Scope.DEPLOY_READ)
def get_deployment(deployment_id: str) -> Any:
    return deployment_json(_existing(deployment_id), repo.active_id(conn()))


@bp.get("/v1/deployments")
@requires(Scope.DEPLOY_READ)
def list_deployments() -> Any:
    args = query_args(_list_query)
    limit = args["limit"]
    rows = repo.list_deployments(conn(), before_version=args["cursor"], limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    active = repo.active_id(conn())
    return {"data": [deployment_json(r, active) for r in rows],
            "cursor": str(rows[-1]["version"]) if more and rows else None,
            "hasMore": more}

"""The worker's OpenAPI 3.1 document, generated from the app itself.

Every rule of the Flask URL map becomes an operation, so a route cannot be left out: its
path and path parameters come from the rule, who may call it from the view's marks
(``@public``, ``@authenticated``, ``@requires(scope)`` in ``worker.security``), and the rest
(request schemas, success responses, the route's own error codes, links) from
``operations.OPERATIONS``, whose schemas are the marshmallow ones the routes load with
(``worker.schemas``), converted by apispec. The errors every route shares (401/403/429 for
protected routes, 403 ``https_required``, 503 ``database_unavailable`` and
``database_busy``, the body and query errors) are added here, each status with the error
envelope restricted to the codes that can answer with it.

``document(app)`` builds it once per app for ``GET /v1/openapi.json``;
``workflow-studio openapi`` prints ``build_document`` of an app it makes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.compute.ids import id_pattern
from workflow_studio.version import __version__
from workflow_studio.worker.openapi.operations import OPERATIONS, Operation

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "apiKey"
# Flask's own static-file route: no API behind it (the app has no static folder).
UNDOCUMENTED_ENDPOINTS = frozenset({"static"})
UNDOCUMENTED = "x-undocumented"
_CACHE = "workflow_studio.openapi"
_PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_ERROR_REF = "#/components/schemas/Error"
_HEADER_REF = "#/components/headers/"
_RETRY_STATUSES = (425, 429, 503)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Path parameters every route checks the same way (``context.run_or_404``, the deployment
# routes): a malformed one is 400 ``invalid_run_id`` / ``invalid_deployment_id``.
_ID_PARAMETERS = MappingProxyType({"run_id": id_pattern("wrun"),
                                   "deployment_id": id_pattern("dpl")})

_DESCRIPTION = """\
The compute worker's HTTP API: runs, deployments, API keys, audit, webhooks and the
world-proxy routes remote worlds use.

**Authentication**: `Authorization: Bearer <key>` on every operation except the public ones
(health, this document, webhook deliveries and hook URLs, whose signature is the
credential). Each operation names the scope it needs (`security`, and
`x-required-scope`); `admin` grants every scope. A missing or invalid key is 401
`unauthorized`, a missing scope 403 `missing_scope`, the per-key rate limit 429
`rate_limited` with `Retry-After`.

**Errors**: every error, routing's 404/405 included, is JSON `{"code", "message", ...}`;
each documented status lists the codes that answer with it.

**Correlation**: send `x-workflow-correlation-id` (1-128 of `A-Za-z0-9._:-`) to have it
echoed on the response and recorded in the audit log; otherwise a UUID is made.
"""


def document(app: Flask) -> dict[str, Any]:
    """The document for ``app``, built on first use and kept with the app."""
    cached: dict[str, Any] | None = app.extensions.get(_CACHE)
    if cached is None:
        cached = app.extensions[_CACHE] = build_document(app)
    return cached


def build_document(app: Flask) -> dict[str, Any]:
    spec = APISpec(title="Workflow Studio compute worker", version=__version__,
                   openapi_version=OPENAPI_VERSION, plugins=[MarshmallowPlugin()],
                   info={"description": _DESCRIPTION})
    _components(spec)
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in UNDOCUMENTED_ENDPOINTS]
    per_endpoint: dict[str, int] = {}
    for rule in rules:
        per_endpoint[rule.endpoint] = per_endpoint.get(rule.endpoint, 0) + 1
    for rule in sorted(rules, key=lambda r: (r.rule, r.endpoint)):
        view = app.view_functions[rule.endpoint]
        operation_id = rule.endpoint
        if per_endpoint[rule.endpoint] > 1:  # one view under several paths (aliases)
            operation_id = f"{rule.endpoint}.{rule.rule.rstrip('/').rsplit('/', 1)[-1]}"
        spec.path(path=openapi_path(rule), operations={
            method.lower(): _operation(rule, method, view, operation_id)
            for method in sorted(rule.methods or ()) if method not in ("HEAD", "OPTIONS")})
    built = spec.to_dict()
    _strings_are_never_null(built)
    head = {key: built.pop(key) for key in ("openapi", "info")}
    return {**head, **built}


def _strings_are_never_null(built: dict[str, Any]) -> None:
    """Path, query and header parameters and multipart fields are strings: none is ``null``."""
    schemas = built["components"]["schemas"]
    for item in built["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                _not_null(parameter["schema"])
            form = operation.get("requestBody", {}).get("content", {}).get(
                "multipart/form-data")
            if form is not None:  # its schema is a form's alone (deployments.UploadSchema)
                name = form["schema"]["$ref"].rsplit("/", 1)[-1]
                for field in schemas[name]["properties"].values():
                    _not_null(field)


def _not_null(schema: dict[str, Any]) -> None:
    """A query, header or path value is a string, never JSON ``null``: marshmallow's
    ``load_default=None`` means "absent", which ``required: false`` already says."""
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        kinds = [k for k in kinds if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in schema:
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def openapi_path(rule: Rule) -> str:
    """``/v1/runs/<run_id>`` -> ``/v1/runs/{run_id}``."""
    return _PLACEHOLDER.sub(lambda m: "{" + m.group(2) + "}", rule.rule)


def _path_parameters(rule: Rule, op: Operation | None) -> Iterator[dict[str, Any]]:
    for match in _PLACEHOLDER.finditer(rule.rule):
        converter, name = match.group(1) or "default", match.group(2)
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if name in _ID_PARAMETERS:
            schema["pattern"] = _ID_PARAMETERS[name]
        elif converter != "path":
            schema["pattern"] = "^[^/]+$"
        if op is not None and name in op.path:
            schema = dict(op.path[name])
        yield {"name": name, "in": "path", "required": True, "schema": schema}


def _components(spec: APISpec) -> None:
    spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer", "bearerFormat": "wsk_...",
        "description": "An API key; the operation's `security` entry names the scope it "
                       "needs (`admin` grants all)."})
    spec.components.schema("Error", {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
            "message": {"type": "string"},
            "scope": {"type": "string", "description": "missing_scope: the scope needed"},
            "retryAfter": {"type": "integer", "description": "seconds, with Retry-After"},
            "fields": {"type": "object", "description": "invalid_request: field -> problems"},
        },
        "description": "The error envelope of every error response; some codes add fields."})
    headers = {
        "CorrelationId": ("x-workflow-correlation-id: the caller's (if well formed) or a "
                          "new UUID", True),
        "RetryAfter": ("seconds to wait before retrying", True),
        "RateLimit": ("the caller's remaining budget in this window", False),
        "RateLimitPolicy": ("the per-key limit", False),
        "IdempotentReplayed": ("`true` when this is the first response, replayed", False),
    }
    for name, (description, required) in headers.items():
        spec.components.header(name, {"description": description, "required": required,
                                      "schema": {"type": "string"}})


def _ref(header: str) -> dict[str, str]:
    return {"$ref": _HEADER_REF + header}


def _error_codes(rule: Rule, method: str, view: Any,
                 op: Operation | None) -> dict[int, list[str]]:
    codes: list[ErrorCode] = [ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.DATABASE_BUSY]
    if method in _BODY_METHODS:  # any body past the route's cap (worker.limits)
        codes.append(ErrorCode.PAYLOAD_TOO_LARGE)
    if not getattr(view, "plain_http_ok", False):
        codes.append(ErrorCode.HTTPS_REQUIRED)
    if not getattr(view, "public", False):
        codes += [ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED]
        if getattr(view, "required_scope", "admin") is not None:
            codes.append(ErrorCode.MISSING_SCOPE)
    if rule.arguments:  # an id that is malformed, unknown, or holds unstorable characters
        codes += [ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND]
    if op is not None:
        if op.body is not None:
            codes += [ErrorCode.INVALID_JSON, ErrorCode.INVALID_REQUEST,
                      ErrorCode.UNSUPPORTED_MEDIA_TYPE]
        if op.query is not None or op.headers:
            codes.append(ErrorCode.INVALID_REQUEST)
        codes += op.errors
    by_status: dict[int, list[str]] = {}
    for code in codes:
        listed = by_status.setdefault(code.status, [])
        if code.value not in listed:
            listed.append(code.value)
    return dict(sorted(by_status.items()))


def _error_response(status: int, codes: list[str]) -> dict[str, Any]:
    headers: dict[str, Any] = {"x-workflow-correlation-id": _ref("CorrelationId")}
    if status in _RETRY_STATUSES:
        headers["Retry-After"] = _ref("RetryAfter")
    return {
        "description": ", ".join(f"`{c}`" for c in codes),
        "headers": headers,
        "content": {"application/json": {"schema": {"allOf": [
            {"$ref": _ERROR_REF}, {"properties": {"code": {"enum": codes}}}]}}},
    }


def _security(view: Any) -> tuple[list[dict[str, list[str]]], str | None]:
    if getattr(view, "public", False):
        return [], None
    scope = getattr(view, "required_scope", "admin")  # undeclared views need admin
    return [{SECURITY_SCHEME: [scope] if scope else []}], scope


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body is not None:
        media: dict[str, Any] = {"schema": op.body}
        if op.example is not None:
            media["example"] = op.example
        required = any(f.required for f in op.body().fields.values())
        return {"required": required, "content": {"application/json": media}}
    if op.form is not None:
        return {"required": True, "content": {"multipart/form-data": {"schema": op.form}}}
    if op.raw_body:
        return {"required": False, "content": {
            "application/json": {"schema": {}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return None


def _success(status: int, op: Operation, view: Any) -> dict[str, Any]:
    headers: dict[str, Any] = {"x-workflow-correlation-id": _ref("CorrelationId")}
    if not getattr(view, "public", False):
        headers["RateLimit"] = _ref("RateLimit")
        headers["RateLimit-Policy"] = _ref("RateLimitPolicy")
    if any(h["name"] == "Idempotency-Key" for h in op.headers):
        headers["Idempotent-Replayed"] = _ref("IdempotentReplayed")
    schema = op.ok[status]
    response: dict[str, Any] = {"description": "No body.", "headers": headers}
    if schema is not None:
        response["description"] = (schema.__doc__ or "OK").split("\n\n")[0]
        response["content"] = {"application/json": {"schema": schema}}
    links = op.links.get(status)
    if links:
        response["links"] = {name: {"operationId": target, "parameters": dict(params)}
                             for name, (target, params) in links.items()}
    return response


def _operation(rule: Rule, method: str, view: Any, operation_id: str) -> dict[str, Any]:
    op = OPERATIONS.get(rule.endpoint)
    security, scope = _security(view)
    parameters: list[dict[str, Any]] = list(_path_parameters(rule, op))
    operation: dict[str, Any] = {
        "operationId": operation_id, "tags": [rule.endpoint.split(".", 1)[0]],
        "security": security, "parameters": parameters, "responses": {}}
    if scope is not None:
        operation["x-required-scope"] = scope
    if op is None:
        operation.update({"summary": f"{rule.endpoint} (undocumented)", UNDOCUMENTED: True})
        operation["responses"]["default"] = _error_response(500, ["internal_error"])
        return operation
    notes = [op.description] if op.description else []
    notes.append(f"Scope: `{scope}`." if scope else
                 "Any valid API key." if security else "Public: no API key.")
    operation.update({"summary": op.summary, "description": " ".join(notes)})
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    parameters.extend(dict(h) for h in op.headers)
    body = _request_body(op)
    if body is not None:
        operation["requestBody"] = body
    responses: dict[Any, Any] = operation["responses"]
    for status in sorted(op.ok):
        responses[str(status)] = _success(status, op, view)
    for status, codes in _error_codes(rule, method, view, op).items():
        responses[str(status)] = _error_response(status, codes)
    return operation

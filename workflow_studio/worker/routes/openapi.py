"""``GET /v1/openapi.json``: the API contract, public and cacheable (``worker.openapi``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, current_app, request

from workflow_studio.worker.openapi import document
from workflow_studio.worker.security import public

bp = Blueprint("openapi", __name__)
_BODY = "workflow_studio.openapi.body"
MAX_AGE_SECONDS = 300


def _body() -> tuple[bytes, str]:
    """The document as JSON bytes and its ETag, made once per app."""
    cached: tuple[bytes, str] | None = current_app.extensions.get(_BODY)
    if cached is None:
        body = json.dumps(document(current_app), separators=(",", ":")).encode()
        cached = current_app.extensions[_BODY] = (body, hashlib.sha256(body).hexdigest()[:32])
    return cached


@bp.get("/v1/openapi.json")
@public
def openapi_document() -> Any:
    """This worker's OpenAPI 3.1 document."""
    body, etag = _body()
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_SECONDS
    return response.make_conditional(request)

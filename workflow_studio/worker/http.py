"""Request helpers for routes: validated JSON bodies and pagination parameters."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from workflow_studio.compute.errors import ErrorCode
from workflow_studio.worker.errors import ApiError


def parsed_json() -> Any:
    """The request body as JSON, or None when it is not JSON (too-deep nesting included:
    the parser's RecursionError is the client's malformed input, not our failure)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def json_body(schema: Schema) -> Any:
    """The request's JSON body loaded through ``schema``; 400 with the fields otherwise."""
    if request.content_length and not request.is_json:
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                       "Send the body as JSON with Content-Type: application/json.")
    data = parsed_json() if request.content_length else {}
    if data is None:
        raise ApiError(ErrorCode.INVALID_JSON, "The request body is not valid JSON.")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, "The request body is invalid.",
                       fields=exc.messages) from None


def query_args(schema: Schema) -> Any:
    """Query-string parameters loaded through ``schema``; 400 with the fields otherwise."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, "The query parameters are invalid.",
                       fields=exc.messages) from None

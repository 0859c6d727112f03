"""Request helpers for routes: validated JSON bodies and query parameters.

This is where request input is parsed, so it is where input that cannot be stored is
refused, for every route at once: a JSON document nested deeper than ``MAX_BODY_DEPTH``
levels, or a string (or name) holding a lone surrogate such as
``"\\ud800"`` (UTF-8 cannot encode it, so neither database can store it), answers 400
``invalid_request`` naming the field. Bodies are read through the route's cap
(``worker.limits``), chunked ones included.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from workflow_studio.compute import payloads
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.limits import read_body

MAX_BODY_DEPTH = 100  # levels of a JSON body; stored payloads get payloads.MAX_DEPTH (128)
# A body can only be too deep when it has more brackets than the limit, and only hold a lone
# surrogate when it has a \u escape of one (strict UTF-8 decoding rules out the rest): only
# then is it scanned, or walked once parsed.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING_RE = re.compile(_STRING)
_TOKENS = re.compile(_STRING + rb"\s*:|" + _STRING + rb"|[\[\]{}]")
_OPENING = frozenset(b"[{")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def has_body() -> bool:
    """Whether the request carries a body: a non-zero Content-Length, or chunked."""
    return bool(request.content_length) or (
        "chunked" in request.headers.get("Transfer-Encoding", "").lower())


def unstorable(path: str, problem: str, where: str = "request body") -> ApiError:
    """The 400 for a value that cannot be stored, naming its field."""
    field = path or "(top level)"
    return ApiError(ErrorCode.INVALID_REQUEST, f"The {where} is invalid: {field} {problem}.",
                    fields={field: [problem]})


def _deepest(raw: bytes) -> int:
    """How deeply the JSON text ``raw`` nests (-1 when its brackets do not balance: not
    JSON). The bytes are scanned, not parsed: how deep the parser gets before its
    RecursionError depends on the stack it starts from, so that must not decide the answer."""
    depth = deepest = 0
    for byte in _STRING_RE.sub(b'""', raw).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in _OPENING else -1
        if depth < 0:
            return -1
        deepest = max(deepest, depth)
    return deepest if depth == 0 else -1


def _too_deep_field(raw: bytes) -> str:
    """The top-level field of ``raw`` (too deep) whose value nests past ``MAX_BODY_DEPTH``
    ("" when the body is an array)."""
    depth, key = 0, ""
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_BODY_DEPTH:
                return key
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth == 1 and token.endswith(b":"):
            try:
                key = str(json.loads(token[:-1].rstrip().decode("utf-8")))
            except ValueError:
                key = ""
    return key


def parsed_json() -> Any:
    """The request body as JSON (read up to the route's cap, else 413), or None when it is
    not JSON (invalid UTF-8 or syntax; unbalanced brackets too deep for the parser included:
    the client's malformed input, not our failure). JSON that cannot be stored (nested more
    than ``MAX_BODY_DEPTH`` levels, a lone surrogate) is 400 ``invalid_request`` naming the
    field. Callers check ``request.is_json`` first."""
    raw = read_body()
    if raw.count(b"[") + raw.count(b"{") > MAX_BODY_DEPTH and _deepest(raw) > MAX_BODY_DEPTH:
        raise unstorable(payloads.shown_path(_too_deep_field(raw)),
                         f"is nested more than {MAX_BODY_DEPTH} levels deep")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if _SURROGATE_ESCAPE.search(raw):
        problem = payloads.find_unstorable(data, MAX_BODY_DEPTH)
        if problem is not None:
            raise unstorable(*problem)
    return data


def json_body(schema: Schema) -> Any:
    """The request's JSON body loaded through ``schema``; 400 with the fields otherwise."""
    body = has_body()
    if body and not request.is_json:
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                       "Send the body as JSON with Content-Type: application/json.")
    data = parsed_json() if body else {}
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
        given = request.args.to_dict()
    except UnicodeDecodeError:  # raw non-UTF-8 bytes (gunicorn refuses them; others may not)
        raise ApiError(ErrorCode.INVALID_REQUEST,
                       "The query string is not valid UTF-8 (percent-encode it).") from None
    problem = payloads.find_unstorable(given)
    if problem is not None:
        raise unstorable(*problem, where="query string")
    try:
        return schema.load(given)
    except ValidationError as exc:
        raise ApiError(ErrorCode.INVALID_REQUEST, "The query parameters are invalid.",
                       fields=exc.messages) from None

"""Request schemas shared by worker (validation) and client (documentation of the contract)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

from workflow_studio.compute.scopes import ALL_SCOPES

MAX_PAGE = 1000
MAX_CURSOR = 2**63 - 1  # the largest id or position either database stores
MAX_RATE = 2**31 - 1


class JsonInteger(fields.Integer):
    """An integer in a JSON body: ``5``, or ``5.0`` (JSON Schema's integer too); never ``2.5``
    (which ``fields.Integer`` would truncate to 2), ``"5"`` or ``true``."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class JsonNumber(fields.Float):
    """A number in a JSON body; never a numeric string such as ``"5"``."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, (str, bool)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class CreateKeySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)), required=True,
                         validate=validate.Length(min=1))
    rateLimitPerMinute = JsonInteger(load_default=None, allow_none=True,
                                     validate=validate.Range(min=0, max=MAX_RATE))

    @pre_load
    def _snake_alias(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "rate_limit_per_minute" in data:
            data = dict(data)
            data.setdefault("rateLimitPerMinute", data.pop("rate_limit_per_minute"))
        return data


class AuditQuerySchema(Schema):
    correlation_id = fields.String(load_default=None, data_key="correlation_id")
    correlationId = fields.String(load_default=None)
    key_id = fields.String(load_default=None)
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))

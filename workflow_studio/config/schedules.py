"""``define_config(schedules=[...])``: schedules defined with the code, checked for shape.

Each entry is a mapping in the config file's style (``workflow``, ``interval_seconds``; the
API's ``workflowName``/``intervalSeconds`` spellings are accepted too) and comes out in the
API's shape, which is what ``workflow-studio build`` writes into the manifest and what
activating the deployment reconciles (``engine.schedules.service.reconcile``). Cron
expressions and zones are checked where the cron library lives: by the build (which fails
naming the schedule and the field) and again by the worker at activation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from workflow_studio.compute import payloads
from workflow_studio.compute import schedules as vocabulary
from workflow_studio.config.kinds import Invalid, Kind, got

# config spelling -> API field
FIELDS: Mapping[str, str] = MappingProxyType({
    "name": "name", "workflow": "workflowName", "cron": "cron",
    "interval_seconds": "intervalSeconds", "phase_seconds": "phaseSeconds",
    "timezone": "timezone", "args": "args", "kwargs": "kwargs", "start_at": "startAt",
    "end_at": "endAt", "jitter_seconds": "jitterSeconds", "overlap": "overlap",
    "catchup": "catchup", "catchup_window_seconds": "catchupWindowSeconds",
    "max_catchup": "maxCatchup", "remaining_actions": "remainingActions",
})
_API = MappingProxyType({api: api for api in FIELDS.values()})
_INTS = frozenset({"intervalSeconds", "phaseSeconds", "jitterSeconds", "catchupWindowSeconds",
                   "maxCatchup", "remainingActions"})
_TEXTS = frozenset({"name", "workflowName", "timezone"})
_CHOICES = MappingProxyType({"overlap": vocabulary.OVERLAP_POLICIES,
                             "catchup": vocabulary.CATCHUP_POLICIES})


def _instant(value: object, where: str) -> int:
    """A ``datetime`` (naive: UTC) or an ISO 8601 string, as ms since the epoch."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid("expected an ISO 8601 time", where) from None
    if not isinstance(value, datetime):
        raise Invalid(f"expected a datetime or an ISO 8601 string, got {got(value)}", where)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _one(item: object) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise Invalid(f"expected a mapping with name, workflow and cron, got {got(item)}")
    out: dict[str, Any] = {}
    for key, value in item.items():
        field = FIELDS.get(str(key)) or _API.get(str(key))
        if field is None:
            raise Invalid("unknown setting", f".{key}")
        where = f".{key}"
        if field in _TEXTS:
            if not isinstance(value, str) or not value:
                raise Invalid(f"expected a non-empty string, got {got(value)}", where)
        elif field in _INTS:
            if value is not None and (type(value) is not int or value < 0):
                raise Invalid(f"expected a non-negative int, got {got(value)}", where)
        elif field in _CHOICES:
            if value not in _CHOICES[field]:
                raise Invalid(f"expected one of {', '.join(_CHOICES[field])}", where)
        elif field == "cron":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
                raise Invalid("expected a cron expression or a list of them", where)
            value = list(value)
        elif field in ("startAt", "endAt"):
            value = None if value is None else _instant(value, where)
        elif field == "args":
            if not isinstance(value, list | tuple):
                raise Invalid(f"expected a list, got {got(value)}", where)
            value = payloads.to_jsonable(list(value), "args")
        elif field == "kwargs":
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise Invalid(f"expected a mapping of names to values, got {got(value)}", where)
            value = payloads.to_jsonable(dict(value), "kwargs")
        out[field] = value
    for required in ("name", "workflowName"):
        if required not in out:
            raise Invalid("missing", f".{'workflow' if required == 'workflowName' else 'name'}")
    if not vocabulary.valid_name(out["name"]):
        raise Invalid("1-128 of A-Za-z0-9._- starting with a letter or digit", ".name")
    if not out.get("cron") and out.get("intervalSeconds") is None:
        raise Invalid("give cron or interval_seconds", ".cron")
    return out


@dataclasses.dataclass(frozen=True)
class ScheduleDefinitions(Kind):
    """A list of schedule mappings; names must be unique."""

    _doc = "list of {name, workflow, cron, timezone, ...}"

    def check(self, value: object) -> tuple[Mapping[str, Any], ...]:
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list of schedules, got {got(value)}")
        out: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            try:
                one = _one(item)
            except Invalid as exc:
                raise exc.below(f"[{index}]") from None
            except (TypeError, ValueError) as exc:  # args a payload cannot carry
                raise Invalid(str(exc), f"[{index}]") from None
            if one["name"] in seen:
                raise Invalid(f"the name {one['name']!r} is used twice", f"[{index}].name")
            seen.add(one["name"])
            out.append(one)
        return tuple(out)

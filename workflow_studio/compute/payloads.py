"""Tagged JSON for workflow payloads (inputs, step results, hook payloads, stream chunks).

Plain JSON cannot carry datetimes, bytes, UUIDs, Decimals or tuples, and silently turning a
tuple into a list would make a replayed workflow see a different value than the first run.
Each such value is written as a one-key object ``{"$<tag>": ...}``; a dict whose only key
starts with ``$`` is escaped with ``$dict``. This lives in the protocol package (no Flask) so
the worker, the local world and the remote client encode alike.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


class PayloadError(TypeError):
    """A value cannot be stored as a workflow payload; the message names its type."""


def _tag(value: object, path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"$float": repr(value)}
        return value
    if isinstance(value, list):
        return [_tag(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [_tag(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PayloadError(
                    f"cannot serialise a dict key of type {type(k).__name__} at {path} "
                    "(payload dict keys must be strings)")
            out[k] = _tag(v, f"{path}.{k}")
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$dict": out}
        return out
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (set, frozenset)):
        raise PayloadError(f"cannot serialise a value of type {type(value).__name__} at "
                           f"{path} (use a list or tuple)")
    raise PayloadError(f"cannot serialise a value of type {type(value).__module__}."
                       f"{type(value).__qualname__} at {path} (payloads are JSON plus "
                       "datetime, date, time, timedelta, bytes, UUID, Decimal and tuple)")


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "$tuple": lambda v: tuple(_untag(x) for x in v),
    "$dict": lambda v: {k: _untag(x) for k, x in v.items()},
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$timedelta": lambda v: timedelta(seconds=v),
    "$bytes": lambda v: base64.b64decode(v.encode("ascii")),
    "$uuid": uuid.UUID,
    "$decimal": Decimal,
    "$float": float,
}


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            decode = _UNTAG.get(key)
            if decode is not None:
                try:
                    return decode(value[key])
                except PayloadError:
                    raise
                except Exception as exc:  # whatever a malformed tag breaks, it's bad input
                    raise PayloadError(f"malformed {key} value: {type(exc).__name__}: {exc}"
                                       ) from None
        return {k: _untag(v) for k, v in value.items()}
    return value


def to_jsonable(value: Any, what: str = "value") -> Any:
    """``value`` as plain JSON-compatible data with tags; ``PayloadError`` if impossible."""
    return _tag(value, what)


def from_jsonable(data: Any) -> Any:
    """The inverse of ``to_jsonable``."""
    return _untag(data)


# One encoder, made once: ``json.dumps`` with any option builds a new JSONEncoder per call,
# which was a visible share of the engine's per-step profile. ``encode`` keeps no state.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any, what: str = "value") -> str:
    """Encode ``value`` as tagged JSON text."""
    return _encode(_tag(value, what))


def loads(text: str | None) -> Any:
    """Decode tagged JSON text (None stays None)."""
    if text is None:
        return None
    return _untag(json.loads(text))

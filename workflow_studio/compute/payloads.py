"""Tagged JSON for workflow payloads (inputs, step results, hook payloads, stream chunks).

Plain JSON cannot carry datetimes, bytes, UUIDs, Decimals or tuples, and silently turning a
tuple into a list would make a replayed workflow see a different value than the first run.
Each such value is written as a one-key object ``{"$<tag>": ...}``; a dict whose only key
starts with ``$`` is escaped with ``$dict``. This lives in the protocol package (no Flask) so
the worker, the local world and the remote client encode alike.

Bounds, so a stored value can always be read back: tagged JSON nests at most ``MAX_DEPTH``
levels (a tuple or an escaped dict counts two: its tag object and what it holds), holds no
string that UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``), and ``dumps``
refuses text longer than ``max_bytes`` (``DEFAULT_MAX_BYTES`` unless the caller passes the
worker's ``worker.limits.max_payload_bytes``). ``find_unstorable`` applies the first two
rules to any decoded JSON document, which is how the worker checks request bodies.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

# Levels of nesting in stored (tagged) JSON: decoding one costs ~3 frames a level, far from
# Python's recursion limit. Request bodies get less (the worker's MAX_BODY_DEPTH, 100), so
# input accepted over HTTP still fits once wrapped and tagged.
MAX_DEPTH = 128
DEFAULT_MAX_BYTES = 1024 * 1024  # encoded size of one payload, unless the caller says
_PATH_CHARS = 200  # how much of a path an error message shows
_DEEP_PATH_CHARS = 40  # ... of the path to a too-deep value: where it starts is enough


class PayloadError(TypeError):
    """A value cannot be stored as a workflow payload; the message names its type."""


class PayloadTooLarge(PayloadError):
    """The encoded value is longer than the payload limit (``size`` > ``limit`` bytes)."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes as JSON, more than the {limit} bytes a "
                         "payload may have (worker.limits.max_payload_bytes)")
        self.what, self.size, self.limit = what, size, limit


def _too_deep(path: str) -> PayloadError:
    return PayloadError(f"{shown_path(path, _DEEP_PATH_CHARS)} is nested more than {MAX_DEPTH} "
                        "levels deep")


def _tag(value: object, path: str, depth: int = 1) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"$float": repr(value)}
        return value
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise _too_deep(path)
        return [_tag(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        if depth + 1 > MAX_DEPTH:
            raise _too_deep(path)
        return {"$tuple": [_tag(v, f"{path}[{i}]", depth + 2) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        # {"$x": ...} is escaped as {"$dict": {"$x": ...}}: one level more.
        escaped = len(value) == 1 and str(next(iter(value))).startswith("$")
        inner = depth + 1 if escaped else depth
        if inner > MAX_DEPTH:
            raise _too_deep(path)
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PayloadError(
                    f"cannot serialise a dict key of type {type(k).__name__} at {path} "
                    "(payload dict keys must be strings)")
            out[k] = _tag(v, f"{path}.{k}", inner + 1)
        return {"$dict": out} if escaped else out
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": _timedelta_seconds(value)}
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


def _timedelta_seconds(value: timedelta) -> float | str:
    """A timedelta's seconds: a JSON number when the float is exact, else the exact decimal
    as a string. A float keeps microseconds only up to about 270 years, and
    ``timedelta.max`` in float seconds rounds up past the largest timedelta."""
    seconds = value.total_seconds()
    try:
        if timedelta(seconds=seconds) == value:
            return seconds
    except OverflowError:
        pass
    micros = (value.days * 86400 + value.seconds) * 10**6 + value.microseconds
    whole, fraction = divmod(abs(micros), 10**6)
    return f"{'-' if micros < 0 else ''}{whole}.{fraction:06d}"


def _timedelta(seconds: Any) -> timedelta:
    if not isinstance(seconds, str):
        return timedelta(seconds=seconds)
    micros = Decimal(seconds).scaleb(6)
    if micros != micros.to_integral_value():
        raise ValueError("finer than a microsecond")
    return timedelta(microseconds=int(micros))


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$timedelta": _timedelta,
    "$bytes": lambda v: base64.b64decode(v.encode("ascii")),
    "$uuid": uuid.UUID,
    "$decimal": Decimal,
    "$float": float,
}


def _untag(value: Any, depth: int = 1) -> Any:
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise PayloadError(f"the value is nested more than {MAX_DEPTH} levels deep")
        return [_untag(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            raise PayloadError(f"the value is nested more than {MAX_DEPTH} levels deep")
        if len(value) == 1:
            key = next(iter(value))
            if key in ("$tuple", "$dict"):
                inner = value[key]
                if key == "$tuple" and isinstance(inner, list):
                    return tuple(_untag(x, depth + 2) for x in inner)
                if key == "$dict" and isinstance(inner, dict):
                    return {k: _untag(x, depth + 2) for k, x in inner.items()}
                raise PayloadError(f"malformed {key} value: expected "
                                   f"{'a list' if key == '$tuple' else 'an object'}")
            decode = _UNTAG.get(key)
            if decode is not None:
                try:
                    return decode(value[key])
                except PayloadError:
                    raise
                except Exception as exc:  # whatever a malformed tag breaks, it's bad input
                    raise PayloadError(f"malformed {key} value: {type(exc).__name__}: {exc}"
                                       ) from None
        return {k: _untag(v, depth + 1) for k, v in value.items()}
    return value


def shown_path(path: str, limit: int = _PATH_CHARS) -> str:
    """``path`` as an error message may show it: unencodable characters escaped, cut short."""
    shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _storable_text(text: str) -> bool:
    return text.isascii() or _encodable(text)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_unstorable(data: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """The first place in decoded JSON ``data`` that cannot be stored, as (path, problem):
    a container nested deeper than ``max_depth`` (the top level is 1), or a string or key
    UTF-8 cannot encode (a lone surrogate, ``"\\ud800"``). None when there is none.

    Paths read like ``args[0].name`` ("" is the top level); iterative, so any depth the JSON
    parser accepted is safe to check."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if not _storable_text(item):
                return shown_path(path), "holds a lone surrogate (an unpaired \\ud800-\\udfff)"
            continue
        if isinstance(item, dict | list) and depth > max_depth:
            return (shown_path(path, _DEEP_PATH_CHARS),
                    f"is nested more than {max_depth} levels deep")
        if isinstance(item, dict):
            for key, value in item.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not _storable_text(key):
                    return shown_path(child), "has a name with a lone surrogate"
                stack.append((value, child, depth + 1))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(item))
    return None


def to_jsonable(value: Any, what: str = "value") -> Any:
    """``value`` as plain JSON-compatible data with tags; ``PayloadError`` if impossible."""
    return _tag(value, what)


def from_jsonable(data: Any) -> Any:
    """The inverse of ``to_jsonable``."""
    return _untag(data)


# One encoder, made once: ``json.dumps`` with any option builds a new JSONEncoder per call,
# which was a visible share of the engine's per-step profile. ``encode`` keeps no state.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any, what: str = "value", max_bytes: int | None = DEFAULT_MAX_BYTES) -> str:
    """Encode ``value`` as tagged JSON text of at most ``max_bytes`` UTF-8 bytes (None: no
    limit); ``PayloadTooLarge`` beyond, ``PayloadError`` for what cannot be stored at all."""
    tagged = _tag(value, what)
    text = _encode(tagged)
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            found = find_unstorable(tagged)
            where = f" (at {found[0] or 'the top level'})" if found else ""
            raise PayloadError(f"cannot store {what}: a string{where} holds a lone "
                               "surrogate (an unpaired \\ud800-\\udfff)") from None
    if max_bytes is not None and size > max_bytes:
        raise PayloadTooLarge(what, size, max_bytes)
    return text


def loads(text: str | None) -> Any:
    """Decode tagged JSON text (None stays None)."""
    if text is None:
        return None
    return _untag(json.loads(text))

"""Durations for ``sleep``, retry delays and hook timeouts: seconds, timedelta, datetime or
strings such as "500ms", "2s", "10m", "1h", "1d"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def seconds(value: float | int | timedelta | str) -> float:
    """A relative duration in seconds."""
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return float(value)
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise ValueError(f"invalid duration {value!r} (use e.g. '500ms', '2s', '10m', "
                             "'1h', '1d')")
        return float(match.group(1)) * _UNITS[match.group(2)]
    raise TypeError(f"a duration must be seconds, a timedelta or a string like '10m', "
                    f"not {type(value).__name__}")


def deadline_ms(value: float | int | timedelta | str | datetime, now_ms: int) -> int:
    """The absolute time (ms since epoch) a sleep of ``value`` started at ``now_ms`` ends."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    return now_ms + round(seconds(value) * 1000)

"""The one module that knows which cron library we use (cronsim): parse, iterate, explain.

cronsim is small, typed, dependency-free and strict (it refuses ``61`` or ``*/0`` instead of
guessing), and reads 6 fields with a leading seconds field natively. Everything else in the
engine sees ``Cron``: iteration is over **naive local wall times**, so the library's own DST
handling never runs; ``spec`` maps each wall time to an instant with our explicit policy.
``tests/schedules/test_cron_properties.py`` checks it against croniter.

Errors name the expression's field and the character where that field starts, e.g.
``field 2 (minute) '61' at character 3``, because "Bad minute" alone leaves the reader to
count spaces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from types import MappingProxyType

from cronsim import CronSim, CronSimError

FIELDS_5 = ("minute", "hour", "day-of-month", "month", "day-of-week")
FIELDS_6 = ("second", *FIELDS_5)
ALIASES = MappingProxyType({
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
})
_PROBE = datetime(2000, 1, 1)


class CronError(ValueError):
    """A cron expression cronsim refuses; ``position`` is the 1-based character where the
    offending field starts (0: the expression as a whole)."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message, self.position = message, position


def _fields(text: str) -> list[tuple[int, str]]:
    """(1-based start, field) for each whitespace-separated field of ``text``."""
    out: list[tuple[int, str]] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        start = index
        while index < len(text) and not text[index].isspace():
            index += 1
        out.append((start + 1, text[start:index]))
    return out


def _blame(fields: list[tuple[int, str]]) -> CronError:
    """The first field that is bad on its own (the others replaced by ``*``)."""
    names = FIELDS_6 if len(fields) == 6 else FIELDS_5
    for index, (position, value) in enumerate(fields):
        probe = ["*"] * len(fields)
        probe[index] = value
        try:
            CronSim(" ".join(probe), _PROBE)
        except CronSimError as exc:
            return CronError(f"field {index + 1} ({names[index]}) {value!r} at character "
                             f"{position}: {exc}", position)
    return CronError("the day-of-month and month fields never match a date (e.g. 30 2)",
                     fields[len(fields) - 3][0])


@dataclasses.dataclass(frozen=True)
class Cron:
    """A parsed expression: 5 fields, or 6 with a leading seconds field, or an alias."""

    text: str
    expression: str  # aliases expanded, fields separated by one space

    @classmethod
    def parse(cls, text: str) -> Cron:
        stripped = text.strip()
        expression = ALIASES.get(stripped.lower(), stripped)
        fields = _fields(expression)
        if len(fields) not in (5, 6):
            raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week) "
                            f"or 6 with a leading seconds field, got {len(fields)}")
        normalised = " ".join(value for _, value in fields)
        if not normalised.isascii() or not normalised.isprintable():
            raise CronError("only printable ASCII characters are allowed")
        try:
            CronSim(normalised, _PROBE)
        except CronSimError:
            raise _blame(fields) from None
        return cls(text, normalised)

    @property
    def has_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    def after(self, wall: datetime) -> Iterator[datetime]:
        """Naive wall times strictly after ``wall`` (naive), in order; ends when nothing
        matches within cronsim's horizon (50 years)."""
        yield from CronSim(self.expression, wall.replace(tzinfo=None))

    def explain(self) -> str:
        """A human description ("At 03:00 every day")."""
        try:
            return CronSim(self.expression, _PROBE).explain()
        except Exception:  # a description is a nicety; never let it fail a request
            return self.expression

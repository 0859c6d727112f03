"""The cron wrapper: fields, aliases, seconds, errors with positions, descriptions."""

from __future__ import annotations

from datetime import datetime

import pytest

from workflow_studio.engine.schedules.cron import Cron, CronError


def nexts(text: str, start: datetime, count: int = 3) -> list[str]:
    it = Cron.parse(text).after(start)
    return [next(it).strftime("%m-%d %H:%M:%S") for _ in range(count)]


def test_five_and_six_fields_and_aliases() -> None:
    start = datetime(2024, 6, 1, 12, 0, 0)
    assert nexts("* * * * * *", start) == ["06-01 12:00:01", "06-01 12:00:02",
                                           "06-01 12:00:03"]
    assert nexts("*/15 * * * *", start) == ["06-01 12:15:00", "06-01 12:30:00",
                                            "06-01 12:45:00"]
    assert nexts("@daily", start, 2) == ["06-02 00:00:00", "06-03 00:00:00"]
    assert nexts("* * 5-5 * *", start, 1) == ["06-05 00:00:00"]  # one-value range: the 5th
    assert Cron.parse("30 */5 * * * *").has_seconds
    assert Cron.parse("0 3 * * *").explain() == "At 03:00 every day"


@pytest.mark.parametrize(("text", "position", "words"), [
    ("0 61 * * *", 3, "field 2 (hour) '61'"),
    ("61 0 * * *", 1, "field 1 (minute) '61'"),
    ("0 0 * * 8", 9, "field 5 (day-of-week) '8'"),
    ("70 0 0 * * *", 1, "field 1 (second) '70'"),
    ("0  0  30 2 *", 7, "never match"),
    ("0 0 * *", 0, "expected 5 fields"),
])
def test_errors_name_the_field_and_where_it_starts(text: str, position: int,
                                                   words: str) -> None:
    with pytest.raises(CronError) as raised:
        Cron.parse(text)
    assert raised.value.position == position
    assert words in raised.value.message

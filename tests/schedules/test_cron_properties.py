"""The cron wrapper (cronsim, at runtime) against croniter (a test-only dependency): for
generated expressions of 5 fields and of 6 with a leading seconds field, both libraries
yield the same next ticks from the same wall time.

Known divergences kept out of the comparison (this test found the second):

- when both day-of-month and day-of-week are restricted and one of them is written with a
  leading ``*`` (``*/2``), cronsim follows Debian cron (AND) and croniter ORs them; the
  generator gives at least one of the two as a plain ``*``, or neither a leading ``*``;
- croniter 7 reads a one-value range (``3-3``) as ``*`` (``* * 5-5 * *`` fires every
  minute); cronsim reads it as ``3``, as cron does. Ranges are generated with two values.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow_studio.engine.schedules.cron import Cron, CronError

RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "dom": (1, 28),
          "month": (1, 12), "dow": (0, 6)}


@st.composite
def field(draw: st.DrawFn, name: str) -> str:
    low, high = RANGES[name]
    kind = draw(st.sampled_from(["star", "step", "list"]))
    if kind == "star":
        return "*"
    if kind == "step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    items = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(low, high))
        shape = draw(st.sampled_from(["one", "range", "range_step"]))
        if shape == "one":
            items.append(str(a))
        else:
            if a == high:
                items.append(str(a))
                continue
            b = draw(st.integers(a + 1, high))
            items.append(f"{a}-{b}" if shape == "range"
                         else f"{a}-{b}/{draw(st.integers(1, high - low + 1))}")
    return ",".join(items)


@st.composite
def expression(draw: st.DrawFn) -> str:
    names = ["minute", "hour", "dom", "month", "dow"]
    values = {name: draw(field(name)) for name in names}
    dom, dow = values["dom"], values["dow"]
    if dom != "*" and dow != "*" and (dom.startswith("*") or dow.startswith("*")):
        values["dow"] = "*"
    text = " ".join(values[n] for n in names)
    if draw(st.booleans()):
        text = f"{draw(field('second'))} {text}"
    return text


starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1))


@settings(max_examples=300, deadline=None)
@given(expression(), starts)
def test_cronsim_and_croniter_agree_on_the_next_ticks(text: str, start: datetime) -> None:
    start = start.replace(microsecond=0)
    ours = Cron.parse(text).after(start)
    theirs = croniter(text, start, second_at_beginning=len(text.split()) == 6)
    for _ in range(5):
        expected = theirs.get_next(datetime)
        got = next(ours)
        assert got == expected, (text, start)
        assert got > start and got - start < timedelta(days=366 * 30)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789*/,-LW#? abcMONJA", max_size=30))
def test_what_cronsim_refuses_carries_a_position(text: str) -> None:
    try:
        parsed = Cron.parse(text)
    except CronError as exc:
        assert 0 <= exc.position <= len(text) + 1
        return
    assert len(parsed.expression.split()) in (5, 6)

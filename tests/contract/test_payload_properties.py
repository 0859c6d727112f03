"""Properties of the payload codec and of the trigger route, checked with hypothesis.

- Any value the codec accepts (JSON, plus datetime, date, time, timedelta, bytes, UUID,
  Decimal, tuples and dicts whose keys look like tags) comes back equal and of the same
  types through ``to_jsonable``/``from_jsonable`` and through ``dumps``/``loads``.
- Any byte string sent as the body of ``POST /v1/runs`` is answered 2xx or 4xx (a 4xx with
  the error envelope), never 5xx: random bytes, JSON of any shape, trigger-shaped JSON with
  malformed tags, deep nesting, lone surrogates, under any content type.

Examples are bounded (``max_examples``) and derandomized, so the suite stays fast and a
failure reproduces.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.world_proxy.conftest import record_deployment
from workflow_studio.compute import payloads

BOUNDED = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
TAGS = ("$tuple", "$dict", "$datetime", "$date", "$time", "$timedelta", "$bytes", "$uuid",
        "$decimal", "$float")

# -- the codec ----------------------------------------------------------------------------
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.binary(max_size=16) | st.uuids()
           | st.datetimes(timezones=st.none() | st.just(UTC) | offsets)
           | st.dates() | st.times() | st.timedeltas()
           | st.decimals(allow_nan=False))
keys = st.text(max_size=8) | st.sampled_from(TAGS) | st.text(max_size=4).map("$".__add__)
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
                   | st.dictionaries(keys, inner, max_size=4)),
    max_leaves=16)


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (a tuple is no list, 1 is no 1.0), and
    alike where ``==`` is blind: NaN, the sign of zero, a datetime's offset."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, (datetime, time)):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


@BOUNDED
@given(values)
def test_any_tagged_value_round_trips(value: Any) -> None:
    tagged = payloads.to_jsonable(value)
    assert json.loads(json.dumps(tagged, allow_nan=False)) == tagged  # plain, strict JSON
    assert same(payloads.from_jsonable(tagged), value)
    assert same(payloads.loads(payloads.dumps(value)), value)


@pytest.mark.parametrize("value", [
    timedelta.max, timedelta.min, timedelta(days=999_999, microseconds=1),
    (datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),),
    {"$bytes": b"\x00"}, {"$dict": {"$tuple": (1, [2.5, None])}}, Decimal("-0.000"),
    float("nan"), -0.0, float("-inf"),
])
def test_edge_values_round_trip(value: Any) -> None:
    assert same(payloads.loads(payloads.dumps(value)), value)


# -- POST /v1/runs with any body ----------------------------------------------------------
lone_surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=12) | lone_surrogates)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20)
DEPTHS = (1, 64, 99, 100, 101, 127, 128, 129, 300, 499, 500, 700, 950, 999, 1000, 1001, 1200)


def _nested(depth: int) -> bytes:
    return b'{"workflowName": "checkout", "args": [' + b"[" * depth + b"]" * depth + b"]}"


nested = (st.sampled_from(DEPTHS) | st.integers(1, 1200)).map(_nested)
trigger_like = st.fixed_dictionaries(
    {"workflowName": st.sampled_from(["checkout", "nope", ""]) | st.text(max_size=300)
                     | lone_surrogates},
    optional={"args": st.lists(json_values, max_size=3) | json_values,
              "kwargs": st.dictionaries(st.text(max_size=6) | lone_surrogates, json_values,
                                        max_size=3) | json_values,
              "deploymentId": st.none() | st.text(max_size=30) | json_values,
              "extra": json_values})


def _mangle(data: bytes, position: int, byte: int) -> bytes:
    cut = position % (len(data) + 1)
    return data[:cut] + bytes([byte]) + data[cut + 1:]


json_bodies = (json_values | trigger_like).map(lambda v: json.dumps(v).encode()) | nested
bodies = (st.binary(max_size=256) | json_bodies
          | st.builds(_mangle, json_bodies, st.integers(0, 10_000), st.integers(0, 255)))
content_types = st.just("application/json") | st.sampled_from([
    "application/json; charset=utf-8", "application/json; charset=latin-1", "text/plain",
    "application/octet-stream", "application/x-www-form-urlencoded", "multipart/form-data",
    None])
_keys = count()


@pytest.fixture
def trigger_client(app: Any, client: Any) -> Any:
    record_deployment(app, workflows=["checkout"])
    return client


@BOUNDED
@given(body=bodies, content_type=content_types)
@example(body=_nested(700), content_type="application/json")  # issue 13: was 500
@example(body=b'{"workflowName": "checkout", "args": ["\\ud800"]}',  # issue 13: was 500
         content_type="application/json")
@example(body=b'{"workflowName": "checkout", "kwargs": {"\\udfff": 1}}',
         content_type="application/json")
def test_any_body_to_trigger_is_2xx_or_4xx(trigger_client: Any, admin_headers: dict[str, str],
                                           body: bytes, content_type: str | None) -> None:
    headers = {**admin_headers, "Idempotency-Key": f"prop-{next(_keys)}-{uuid.uuid4()}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = trigger_client.post("/v1/runs", data=body, headers=headers)
    assert 200 <= response.status_code < 500, (response.status_code, body[:200])
    if response.status_code >= 400:
        envelope = response.get_json()
        assert isinstance(envelope, dict) and envelope["code"] and envelope["message"]


def test_the_strategies_reach_the_happy_path(trigger_client: Any,
                                             admin_headers: dict[str, str]) -> None:
    """Not only refusals: a well-formed trigger of the recorded workflow is accepted."""
    response = trigger_client.post("/v1/runs", json={"workflowName": "checkout", "args": [1]},
                                   headers={**admin_headers, "Idempotency-Key": "happy"})
    assert response.status_code == 202
    assert isinstance(payloads.from_jsonable(response.get_json()["input"]), dict)

"""The payload codec's bounds: what it writes it can read back, and what it cannot store it
refuses with ``PayloadError`` naming the place (never a RecursionError or the database
driver's UnicodeEncodeError later)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workflow_studio.compute import payloads
from workflow_studio.compute.payloads import MAX_DEPTH, PayloadError, PayloadTooLarge


def lists(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def tuples(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = (value,)
    return value


def escaped(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = {"$x": value}
    return value


def json_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:  # the values here hold no strings with brackets
        depth += char in "[{"
        depth -= char in "]}"
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize(("make", "levels"), [(lists, MAX_DEPTH), (tuples, MAX_DEPTH // 2),
                                              (escaped, MAX_DEPTH // 2)])
def test_the_deepest_storable_value_round_trips(make: Any, levels: int) -> None:
    value = make(levels)
    text = payloads.dumps(value)
    assert json_depth(text) <= MAX_DEPTH
    assert payloads.loads(text) == value
    assert payloads.from_jsonable(json.loads(text)) == value


@pytest.mark.parametrize(("make", "levels"), [(lists, MAX_DEPTH + 1),
                                              (tuples, MAX_DEPTH // 2 + 1),
                                              (escaped, MAX_DEPTH // 2 + 1), (lists, 5000)])
def test_one_level_more_is_refused_naming_the_place(make: Any, levels: int) -> None:
    with pytest.raises(PayloadError, match=f"step result.* nested more than {MAX_DEPTH}"):
        payloads.dumps({"items": make(levels)}, "step result")


def test_decoding_refuses_what_is_too_deep_instead_of_recursing() -> None:
    with pytest.raises(PayloadError, match="nested more than"):
        payloads.from_jsonable(json.loads("[" * 900 + "]" * 900))


@pytest.mark.parametrize("value", ["\ud800", ["ok", {"k": "a\udfffb"}], {"\udc00": 1}])
def test_lone_surrogates_are_refused_naming_the_place(value: Any) -> None:
    with pytest.raises(PayloadError, match="lone surrogate") as refused:
        payloads.dumps({"args": [value]}, "run arguments")
    assert "args[0]" in str(refused.value)
    paired = "\U0001f600 a pair is fine"
    assert payloads.loads(payloads.dumps(paired)) == paired


def test_the_size_limit_counts_utf8_bytes() -> None:
    assert payloads.dumps("é" * 10, max_bytes=22) == '"' + "é" * 10 + '"'
    with pytest.raises(PayloadTooLarge) as refused:
        payloads.dumps("é" * 11, "chunk", max_bytes=22)
    assert (refused.value.size, refused.value.limit) == (24, 22)
    assert "chunk is 24 bytes" in str(refused.value)
    assert payloads.dumps("x" * (payloads.DEFAULT_MAX_BYTES + 1), max_bytes=None)
    with pytest.raises(PayloadTooLarge):
        payloads.dumps("x" * payloads.DEFAULT_MAX_BYTES)  # the default limit, with quotes


def test_find_unstorable_walks_any_depth_without_recursing() -> None:
    data = {"a": lists(5000)}
    path, problem = payloads.find_unstorable(data, 100) or ("", "")
    assert path.startswith("a[0][0]") and path.endswith("...") and len(path) < 50
    assert problem == "is nested more than 100 levels deep"
    assert payloads.find_unstorable({"a": ["x", {"b\ud800": 1}]})[0] == "a[1].b\\ud800"
    assert payloads.find_unstorable({"a": ["\U0001f600", [[1]]]}) is None

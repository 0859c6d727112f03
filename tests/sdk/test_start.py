"""``start`` / ``start_with``: options apart from the workflow's own arguments."""

from __future__ import annotations

import pytest

import workflow_studio as ws
from tests.sdk import flows


def test_start_returns_the_workflows_result(world):
    run = ws.start(flows.sdk_echo, "hi", times=2)
    assert isinstance(run, ws.Run)
    assert run.result(10) == "HI HI"
    assert run.status() == "completed"


def test_start_with_idempotency_key_dedups(world):
    first = ws.start_with(idempotency_key="sdk-k1").start(flows.sdk_echo, "a")
    again = ws.start_with(idempotency_key="sdk-k1").start(flows.sdk_echo, "a")
    assert first.id == again.id
    assert again.result(10) == "A"
    other = ws.start_with(idempotency_key="sdk-k2").start(flows.sdk_echo, "a")
    assert other.id != first.id
    assert ws.start(flows.sdk_echo, "a").id not in (first.id, other.id)
    with pytest.raises(ValueError):  # the same key with other arguments
        ws.start_with(idempotency_key="sdk-k1").start(flows.sdk_echo, "b")


def test_a_starter_can_be_kept_and_reused(world):
    starter = ws.start_with(idempotency_key="sdk-k3")
    assert starter.options == ws.StartOptions(idempotency_key="sdk-k3")
    assert starter.start(flows.sdk_echo, "x").id == starter.start(flows.sdk_echo, "x").id
    assert ws.start_with().options == ws.StartOptions()


def test_start_with_by_name(world):
    first = ws.start_with(idempotency_key="sdk-k4").start("sdk_echo", "n")
    assert ws.start_with(idempotency_key="sdk-k4").start("sdk_echo", "n").id == first.id
    assert first.result(10) == "N"


def test_deprecated_idempotency_key_on_start_warns_and_still_dedups(world):
    with pytest.warns(DeprecationWarning, match=r"start_with\(idempotency_key=\.\.\.\)"):
        first = ws.start(flows.sdk_echo, "d", idempotency_key="sdk-dep")
    with pytest.warns(DeprecationWarning, match="deprecated"):
        again = ws.start("sdk_echo", "d", idempotency_key="sdk-dep")
    assert first.id == again.id
    assert first.result(10) == "D"


def test_deprecation_warning_points_at_the_caller(world):
    with pytest.warns(DeprecationWarning) as caught:
        ws.start(flows.sdk_echo, "w", idempotency_key="sdk-dep-2")
    assert caught[0].filename == __file__


def test_a_workflow_kwarg_named_idempotency_key_reaches_the_workflow(world):
    run = ws.start_with(idempotency_key="sdk-option").start(
        flows.sdk_keyed, 7, idempotency_key="workflow-arg")
    assert run.result(10) == {"order": 7, "key": "workflow-arg"}
    assert ws.start_with(idempotency_key="sdk-option").start(
        flows.sdk_keyed, 7, idempotency_key="workflow-arg").id == run.id


def test_start_passes_idempotency_key_through_when_the_workflow_declares_it(world):
    # No warning (pytest turns warnings into errors) and no start option: two runs.
    first = ws.start(flows.sdk_keyed, 1, idempotency_key="mine")
    second = ws.start(flows.sdk_keyed, 1, idempotency_key="mine")
    assert first.id != second.id
    assert first.result(10) == {"order": 1, "key": "mine"}
    assert ws.start("sdk_keyed_kwonly", idempotency_key="kw").result(10) == "kw"
    assert ws.start(flows.keyed_kwonly, idempotency_key="kw2").result(10) == "kw2"


def test_start_with_checks_its_options():
    with pytest.raises(TypeError, match="idempotency_key must be a string"):
        ws.start_with(idempotency_key=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        ws.start_with(idempotency_key="")


def test_start_refuses_what_is_not_a_workflow(world):
    with pytest.raises(TypeError, match="@workflow function or its name"):
        ws.start(print)  # type: ignore[call-overload]


def test_get_run_and_result_of_a_finished_run(world):
    run = ws.start(flows.sdk_echo, "g")
    run.result(10)
    assert ws.get_run(run.id).result(1) == "G"
    assert repr(ws.get_run(run.id)) == f"Run({run.id!r})"

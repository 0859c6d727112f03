"""``ws.list_runs(status=..., workflow=..., limit=...)`` on the local world: typed summaries,
newest first, read from the local database by any process (issue 14, "Debuggability").
The same call on the worker: ``test_remote_world.py``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from tests.engine.local_processes import finish, spawn, write_flows
from tests.sdk.test_public_errors import parked_on


@ws.step
def sdk_listed_step(n: int) -> int:
    return 2 * n


@ws.workflow
def sdk_listed_double(n: int) -> int:
    return sdk_listed_step(n)


@ws.step(max_retries=0)
def sdk_listed_refuse() -> None:
    raise ws.FatalError("refused")


@ws.workflow
def sdk_listed_refusing() -> None:
    sdk_listed_refuse()


@ws.workflow
def sdk_listed_parked() -> None:
    ws.sleep("1h")


def test_list_runs_filters_and_limits_newest_first(world: Any) -> None:
    doubles = []
    for n in range(3):
        doubles.append(ws.start(sdk_listed_double, n))
        assert doubles[-1].result(10) == 2 * n
    failing = ws.start(sdk_listed_refusing)
    with pytest.raises(ws.RunFailedError):
        failing.result(10)
    parked = ws.start(sdk_listed_parked)
    parked_on(parked, "sleep")

    listed = ws.list_runs()
    assert [s.id for s in listed] == [parked.id, failing.id, *[r.id for r in doubles][::-1]]
    assert all(isinstance(s, ws.RunSummary) for s in listed)
    assert [s.id for s in ws.list_runs(workflow=sdk_listed_double, limit=2)] == [
        doubles[2].id, doubles[1].id]
    assert [s.id for s in ws.list_runs(workflow="sdk_listed_double", status="completed")] == [
        r.id for r in doubles][::-1]
    assert ws.list_runs(workflow=sdk_listed_double, status="failed") == []

    (failed,) = ws.list_runs(status="failed")
    assert (failed.id, failed.workflow_name, failed.status) == (
        failing.id, "sdk_listed_refusing", "failed")
    assert failed.error_code is ws.RunErrorCode.STEP_FAILED
    assert isinstance(failed.created_at, datetime) and isinstance(failed.completed_at, datetime)
    assert failed.created_at.tzinfo is not None and failed.created_at <= failed.completed_at
    (running,) = ws.list_runs(status="running")
    assert running.waiting_on is not None and running.waiting_on["type"] == "sleep"
    assert running.completed_at is None and running.error_code is None
    assert running.trigger_type == "local"
    assert failed.run().id == failing.id and listed[-1].run().result(1) == 0
    parked.cancel()


def test_list_runs_refuses_what_it_cannot_filter_by(world: Any) -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        ws.list_runs(status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        ws.list_runs(limit=0)
    with pytest.raises(TypeError, match="workflow"):
        ws.list_runs(workflow=42)  # type: ignore[arg-type]


STARTER = """
import workflow_studio as ws
import otherflows

print(ws.start(otherflows.other).result(timeout=20))
"""

LISTER = """
import json

import workflow_studio as ws

print(json.dumps([[s.id, s.workflow_name, s.status] for s in ws.list_runs(limit=10)]))
"""


def test_a_process_lists_the_runs_another_process_started(tmp_path: Path) -> None:
    write_flows(tmp_path)
    assert finish(spawn(tmp_path, STARTER)).strip() == "1"
    assert finish(spawn(tmp_path, STARTER)).strip() == "1"
    listed = json.loads(finish(spawn(tmp_path, LISTER)))
    assert [(name, status) for _, name, status in listed] == [("other", "completed")] * 2

"""Engine fixtures: a local world on the test's backend (a fresh SQLite file or PostgreSQL
schema), installed as the process's world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.engine import flows
from workflow_studio import sdk
from workflow_studio.sdk.local_world import LocalWorld


@pytest.fixture
def world(make_database: Callable[..., Any]) -> Iterator[LocalWorld]:
    flows.calls.clear()
    flows.switches.clear()
    flows.seen_values.clear()
    for event in flows.gates.values():
        event.set()  # release anything a previous test left blocked
    flows.gates.clear()
    local = LocalWorld(slots=4, database=make_database("local.db"))
    previous = sdk.set_world(local)
    yield local
    for event in flows.gates.values():
        event.set()
    sdk.set_world(previous)
    local.close()

"""Engine fixtures: a local world on a fresh SQLite file, installed as the process's world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import flows
from workflow_studio import sdk
from workflow_studio.local_world import LocalWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    flows.calls.clear()
    flows.switches.clear()
    flows.seen_values.clear()
    for event in flows.gates.values():
        event.set()  # release anything a previous test left blocked
    flows.gates.clear()
    local = LocalWorld(tmp_path / "local.db", slots=4)
    previous = sdk.set_world(local)
    yield local
    for event in flows.gates.values():
        event.set()
    sdk.set_world(previous)
    local.close()

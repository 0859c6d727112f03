"""SDK fixtures: a local world on a fresh database, installed as the process's world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workflow_studio import sdk
from workflow_studio.sdk.local_world import LocalWorld


@pytest.fixture
def world(make_database: Callable[..., Any]) -> Iterator[LocalWorld]:
    local = LocalWorld(slots=2, database=make_database("sdk.db"))
    previous = sdk.set_world(local)
    yield local
    sdk.set_world(previous)
    local.close()

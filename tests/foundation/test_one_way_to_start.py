"""Every trigger path goes through ``engine/runs.py``: nothing else creates a run row or
reads and writes idempotency records, so no second copy of those rules can grow."""

from __future__ import annotations

import re
from pathlib import Path

import workflow_studio

ROOT = Path(workflow_studio.__file__).parent
START_SERVICE = "engine/runs.py"


def _sources() -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text()
            for path in sorted(ROOT.rglob("*.py"))}


def _users(pattern: str) -> list[str]:
    return [name for name, text in _sources().items() if re.search(pattern, text)]


def test_only_the_runs_repository_inserts_runs() -> None:
    assert _users(r"INSERT INTO workflow_runs") == ["storage/world/runs.py"]


def test_only_the_start_service_creates_runs() -> None:
    assert _users(r"\bruns\.create\(") == [START_SERVICE]


def test_only_the_start_service_handles_idempotency() -> None:
    assert _users(r"\bidempotency\.(get|record)\(") == [START_SERVICE]

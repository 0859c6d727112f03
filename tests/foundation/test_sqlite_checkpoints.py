"""Background WAL checkpoints (storage/sqlite.py): under commits that never pause, the WAL
is still started over, so no commit pays the in-commit backstop checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflow_studio.storage import sqlite

WRITER = """
import sys
from workflow_studio.storage.sqlite import SqliteConnection
conn = SqliteConnection(sys.argv[1])
conn.execute("PRAGMA wal_autocheckpoint = 0")  # only the test's checkpointer checkpoints
while True:
    with conn.transaction():
        conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 500,))
"""


def _restarts(wal: Path) -> int:
    """The WAL header's checkpoint sequence number: +1 each time a writer starts it over."""
    with open(wal, "rb") as f:
        header = f.read(16)
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "w.db")
    setup = sqlite.SqliteConnection(path)
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    setup.close()
    process = subprocess.Popen([sys.executable, "-c", WRITER, path])
    yield path
    process.kill()
    process.wait()


def test_the_wal_starts_over_under_commits_that_never_pause(
        writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "RESTART_PAGES", 500)
    key = os.path.abspath(writer)
    wal = Path(f"{writer}-wal")
    deadline = time.monotonic() + 30
    while not wal.exists() or wal.stat().st_size < 600 * 4096:  # past RESTART_PAGES
        assert time.monotonic() < deadline, "the writer never filled the WAL"
        time.sleep(0.01)
    first = _restarts(wal)
    sqlite.start_background_checkpoints(writer)
    try:
        while _restarts(wal) < first + 3:
            assert time.monotonic() < deadline, (
                f"the WAL was never started over ({_restarts(wal) - first} times)")
            # The writer's commits happen in another process; in a worker the process's
            # own commits mark its checkpointer dirty.
            sqlite._dirty[key] = True
            time.sleep(0.01)
    finally:
        sqlite._background.pop(key)
        sqlite._dirty[key] = False

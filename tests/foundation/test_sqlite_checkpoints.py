"""Background WAL checkpoints (storage/sqlite_file.py): under commits that never pause, the
WAL is still started over, so no commit pays the in-commit backstop checkpoint; and the
checkpointer belongs to its ``Database``, one per process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflow_studio.storage import Database, sqlite_file
from workflow_studio.storage.sqlite import SqliteConnection
from workflow_studio.storage.sqlite_file import SqliteFile

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
    setup = SqliteConnection(path)
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    setup.close()
    process = subprocess.Popen([sys.executable, "-c", WRITER, path])
    yield path
    process.kill()
    process.wait()


def test_the_wal_starts_over_under_commits_that_never_pause(
        writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_file, "RESTART_PAGES", 500)
    wal = Path(f"{writer}-wal")
    deadline = time.monotonic() + 30
    while not wal.exists() or wal.stat().st_size < 600 * 4096:  # past RESTART_PAGES
        assert time.monotonic() < deadline, "the writer never filled the WAL"
        time.sleep(0.01)
    first = _restarts(wal)
    checkpoints = SqliteFile(writer).checkpoints
    checkpoints.start()
    try:
        while _restarts(wal) < first + 3:
            assert time.monotonic() < deadline, (
                f"the WAL was never started over ({_restarts(wal) - first} times)")
            # The writer's commits happen in another process; in a worker the process's
            # own commits mark its checkpointer dirty.
            checkpoints.dirty = True
            time.sleep(0.01)
    finally:
        checkpoints.stop()


def _autocheckpoint(db: Database) -> int:
    row = db.connection().query_one("PRAGMA wal_autocheckpoint")
    assert row is not None
    return int(row["wal_autocheckpoint"])


def test_a_database_starts_one_checkpointer_its_commits_wake(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "c.db"))
    db.start_background_checkpoints()
    shared = db._sqlite_file()
    thread = shared.checkpoints._thread
    db.start_background_checkpoints()  # idempotent: still the one thread
    assert thread is not None and thread.is_alive() and shared.checkpoints._thread is thread
    assert _autocheckpoint(db) == sqlite_file.BACKSTOP_PAGES  # commits keep only a backstop
    conn = db.connection()
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    deadline = time.monotonic() + 5
    while shared.checkpoints.dirty:  # the thread takes it within CHECKPOINT_INTERVAL
        assert time.monotonic() < deadline
        time.sleep(0.01)
    db.close()
    thread.join(5)
    assert not thread.is_alive()  # close() stops it; a new connection checkpoints itself
    assert _autocheckpoint(db) == 1000


def test_without_the_checkpointer_commits_checkpoint_as_sqlite_does(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "c.db"))
    assert _autocheckpoint(db) == 1000
    checkpoints = db._sqlite_file().checkpoints
    checkpoints.dirty = False
    with db.connection().transaction():
        pass
    assert checkpoints.dirty  # every commit marks it (a checkpointer started later sees it)
    db.start_background_checkpoints()  # too late for the open connection (documented)
    assert _autocheckpoint(db) == 1000
    db.close()


def test_postgres_has_no_checkpointer() -> None:
    db = Database("postgresql://unused", dialect="postgres")
    db.start_background_checkpoints()  # nothing to do, no connection attempted
    assert db._sqlite is None


def test_a_forked_child_gets_its_own_shared_state(tmp_path: Path) -> None:
    """What the master made (lock holders, a checkpointer) is never the child's: gunicorn
    forks workers from a master that may have created the ``Database``. (No thread runs
    in the parent here: forking a threaded process is deprecated.)"""
    db = Database(str(tmp_path / "c.db"))
    assert _autocheckpoint(db) == 1000
    parent = db._sqlite_file()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        ok = False
        try:
            db.start_background_checkpoints()
            child = db._sqlite_file()
            ok = (child is not parent and child.pid == os.getpid()
                  and child.checkpoints.running
                  and _autocheckpoint(db) == sqlite_file.BACKSTOP_PAGES)
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert db._sqlite_file() is parent and not parent.checkpoints.running
    db.close()

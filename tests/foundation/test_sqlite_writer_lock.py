"""The SQLite dialect's writer queue (an ``flock`` beside the database file)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from workflow_studio.storage import DatabaseUnavailable
from workflow_studio.storage.sqlite import SqliteConnection
from workflow_studio.storage.sqlite_file import SqliteFile


def test_writers_in_threads_all_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    setup = SqliteConnection(path)
    setup.execute("CREATE TABLE t (n INTEGER)")

    def write() -> None:
        conn = SqliteConnection(path)
        for _ in range(50):
            with conn.transaction():
                conn.execute("INSERT INTO t (n) VALUES (1)")
        conn.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert setup.query_one("SELECT COUNT(*) AS n FROM t") == {"n": 200}
    assert (tmp_path / "w.db-writer.lock").exists()
    setup.close()


def test_a_thread_never_waits_for_its_own_lock(tmp_path: Path) -> None:
    """Two connections sharing a ``SqliteFile`` (as a ``Database``'s do), one thread: the
    second falls back to SQLite's busy timeout (an error, as before the writer queue)
    instead of waiting forever on the file lock."""
    path = str(tmp_path / "w.db")
    shared = SqliteFile(path)
    first = SqliteConnection(path, shared=shared)
    second = SqliteConnection(path, busy_timeout_ms=50, shared=shared)
    first.execute("CREATE TABLE t (n INTEGER)")
    with first.transaction():
        first.execute("INSERT INTO t (n) VALUES (1)")
        with pytest.raises(DatabaseUnavailable), second.transaction():
            second.execute("INSERT INTO t (n) VALUES (2)")
    with second.transaction():  # the lock was given back by both
        second.execute("INSERT INTO t (n) VALUES (3)")
    assert [r["n"] for r in first.query("SELECT n FROM t ORDER BY n")] == [1, 3]
    first.close()
    second.close()


def test_savepoint_journals_stay_in_memory(tmp_path: Path) -> None:
    """Group commit wraps every unit in a SAVEPOINT; with SQLite's default temp store each
    one journals the pages it touches to a temporary file (half of a worker's write
    syscalls under W1). In memory they cost a copy, and durability is the WAL's alone."""
    conn = SqliteConnection(str(tmp_path / "w.db"))
    assert conn.query_one("PRAGMA temp_store") == {"temp_store": 2}  # MEMORY
    conn.close()

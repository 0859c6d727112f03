"""SQLite's WAL file stays bounded: a restarted WAL is cut back to ``journal_size_limit``,
and once nobody writes, the background checkpointer truncates it to nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from workflow_studio.storage import Database, sqlite, sqlite_file
from workflow_studio.storage.sqlite import SqliteConnection

ROW = "x" * 1000


def wal_size(path: str) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def poll(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def burst(conn: Any, rows: int) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    for _ in range(rows // 100):
        with conn.transaction():
            conn.executemany("INSERT INTO t (v) VALUES (?)", [(ROW,)] * 100)


def test_every_connection_limits_the_journal(tmp_path: Path) -> None:
    conn = SqliteConnection(str(tmp_path / "j.db"))
    row = conn.query_one("PRAGMA journal_size_limit")
    assert row is not None and row["journal_size_limit"] == sqlite_file.JOURNAL_SIZE_LIMIT
    conn.close()


def test_a_restarted_wal_is_cut_back_to_the_limit(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "JOURNAL_SIZE_LIMIT", 256 * 1024)  # what connections set
    path = str(tmp_path / "j.db")
    conn = SqliteConnection(path)
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # only this test checkpoints
    burst(conn, 4000)  # ~4 MB of WAL
    assert wal_size(path) > 3_000_000
    busy, _, _ = conn._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0
    with conn.transaction():  # the next writer starts the WAL over and cuts the file
        conn.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
    assert wal_size(path) <= 256 * 1024
    conn.close()


def test_an_idle_wal_is_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_file, "IDLE_TRUNCATE_AFTER", 0.3)
    db = Database(str(tmp_path / "idle.db"))
    db.start_background_checkpoints()
    burst(db.connection(), 3000)
    assert wal_size(db.target) > 1_000_000
    poll(lambda: wal_size(db.target) == 0, 10, "the idle WAL was never truncated")
    burst(db.connection(), 200)  # writing goes on as before
    assert wal_size(db.target) > 0
    db.close()


@pytest.mark.e2e
def test_the_worker_truncates_its_wal_after_a_burst(start_worker: Any,
                                                    tmp_path: Path) -> None:
    worker = start_worker(workers=2)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def create(n: int) -> int:
        return requests.post(f"{worker.url}/v1/keys", headers=headers, timeout=10,
                             json={"name": f"burst-{n}", "scopes": ["runs:read"]}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(create, range(300))) == {201}
    database = str(tmp_path / "worker.db")
    assert wal_size(database) > 0
    # IDLE_TRUNCATE_AFTER (2 s) without writes, then one truncating checkpoint.
    poll(lambda: wal_size(database) == 0, 20, "the worker's idle WAL was never truncated")

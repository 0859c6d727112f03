"""The SQLite writer lock's bounded wait and its record, against a real holder in another
process: a write gives up after ``lock_timeout`` writing nothing, the lock is not left
behind, group-committed units are bounded from when they were queued, migrations wait as
long as they must, and the lock file says who holds it and for how long each kind held it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.holder import LockHolder
from tests.faults.procfs import flock_holders
from workflow_studio.storage import Database, DatabaseBusy
from workflow_studio.storage.base import Timeouts
from workflow_studio.storage.group_commit import GroupCommit
from workflow_studio.storage.lock_record import DOING_BYTES, LockFile, read_report
from workflow_studio.storage.sqlite import SqliteConnection
from workflow_studio.storage.sqlite_file import SqliteFile

TIMEOUT = 0.4


def _count(conn: SqliteConnection) -> int:
    row = conn.query_one("SELECT COUNT(*) AS n FROM t")
    assert row is not None
    return int(row["n"])


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "w.db")


@pytest.fixture
def conn(path: str) -> SqliteConnection:
    connection = SqliteConnection(path, shared=SqliteFile(path, TIMEOUT))
    connection.execute("CREATE TABLE t (n INTEGER)")
    return connection


def insert(conn: SqliteConnection, n: int) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO t (n) VALUES (?)", (n,))


def test_a_write_gives_up_after_the_timeout_and_writes_nothing(path: str,
                                                                conn: SqliteConnection) -> None:
    insert(conn, 1)
    with LockHolder(path) as holder:
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match=r"gave up after 0\.4s"):
            insert(conn, 2)
        waited = time.monotonic() - started
        assert TIMEOUT <= waited < TIMEOUT + 0.3
        assert conn._file.writers.stalled()
        holder.release()
        started = time.monotonic()
        insert(conn, 3)  # at once: the lock given up on was not kept by this process
        assert time.monotonic() - started < 0.2
    assert not conn._file.writers.stalled()
    assert [r["n"] for r in conn.query("SELECT n FROM t ORDER BY n")] == [1, 3]
    assert flock_holders(f"{path}-writer.lock") == set()  # nobody holds it once idle
    conn.close()


def test_a_write_outside_a_transaction_is_bounded_too(path: str,
                                                     conn: SqliteConnection) -> None:
    """An autocommit INSERT (an audit row) used to wait in SQLite's busy handler, for up to
    its 10 s busy timeout, behind a writer stopped inside its transaction."""
    with LockHolder(path, in_transaction=True):
        started = time.monotonic()
        with pytest.raises(DatabaseBusy):
            conn.execute("INSERT INTO t (n) VALUES (1)")
        assert time.monotonic() - started < TIMEOUT + 0.3
    assert conn.execute("INSERT INTO t (n) VALUES (2)") == 1
    assert _count(conn) == 1
    _, kinds = read_report(path)
    assert any(k.kind.startswith("test_writer_lock.test_a_write_outside") for k in kinds)
    conn.close()


def test_the_lock_file_says_who_holds_it_and_how_long_each_kind_held_it(
        path: str, conn: SqliteConnection) -> None:
    inside = threading.Event()
    leave = threading.Event()

    def holding() -> None:
        with conn.transaction():
            conn.execute("INSERT INTO t (n) VALUES (1)")
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=holding, name="slow-writer")
    thread.start()
    assert inside.wait(10)
    holder, _ = read_report(path)  # as another process reads it: from the file
    assert holder.doing == "test_writer_lock.holding in thread slow-writer"
    assert holder.pid > 0 and not holder.patient
    leave.set()
    thread.join(10)
    for n in range(20):
        insert(conn, n)
    holder, kinds = read_report(path)
    assert holder.pid == 0
    counted = {k.kind: k for k in kinds}
    assert counted["test_writer_lock.holding"].count == 1
    assert counted["test_writer_lock.insert"].count == 20
    insert_kind = counted["test_writer_lock.insert"]
    assert 0 < insert_kind.p50_ms <= insert_kind.p99_ms <= insert_kind.max_ms
    conn.close()


def test_group_committed_units_wait_at_most_the_timeout_from_when_they_were_queued(
        tmp_path: Path) -> None:
    """Units queued behind a leader that gave up are not made to wait a timeout of their
    own on top: each is answered within ``lock_timeout`` of its ``run``."""
    db = Database(str(tmp_path / "g.db"), timeouts=Timeouts(lock=TIMEOUT))
    conn = db.connection()
    with conn.transaction():
        conn.execute("CREATE TABLE t (n INTEGER)")
    committer = GroupCommit(db)
    waited: list[float] = []
    errors: list[BaseException] = []

    def submit(n: int) -> None:
        started = time.monotonic()
        try:
            committer.run(lambda c: c.execute("INSERT INTO t (n) VALUES (?)", (n,)))
        except DatabaseBusy as exc:
            errors.append(exc)
        waited.append(time.monotonic() - started)

    with LockHolder(str(tmp_path / "g.db")):
        threads = []
        for n in range(8):  # queued one after another while the first leaders wait
            threads.append(threading.Thread(target=submit, args=(n,)))
            threads[-1].start()
            time.sleep(TIMEOUT / 4)  # the load's pace, not a synchronisation
        for thread in threads:
            thread.join(10)
    assert len(errors) == 8
    assert max(waited) < TIMEOUT + 0.3, waited
    assert conn.query_one("SELECT COUNT(*) AS n FROM t") == {"n": 0}
    db.close()


def test_migrations_wait_as_long_as_it_takes(tmp_path: Path) -> None:
    """A process that gave up migrating at boot would stop the whole server: the
    migrations' connection is patient, the others are not."""
    path = str(tmp_path / "m.db")
    db = Database(path, timeouts=Timeouts(lock=TIMEOUT))
    with LockHolder(path) as holder:
        released = threading.Timer(3 * TIMEOUT, holder.release)
        released.start()
        started = time.monotonic()
        conn = db.connection()  # migrates, waiting for the holder
        assert time.monotonic() - started >= 3 * TIMEOUT
        released.join()
    assert conn.query("SELECT version FROM schema_migrations")
    with LockHolder(path), pytest.raises(DatabaseBusy), conn.transaction():
        conn.execute("DELETE FROM schema_migrations WHERE version < 0")
    db.close()


def test_the_reported_quantiles_are_within_a_bucket_of_the_holds(tmp_path: Path) -> None:
    """p50/p99 are read from 8-per-octave buckets (each ~9% wide), max is exact."""
    record = LockFile(str(tmp_path / "r.db-writer.lock"))
    holds = [1_000 * n for n in range(1, 1001)]  # 1 us .. 1 ms
    for held in holds:
        record.taken(1, 0, b"\0" * DOING_BYTES, False)
        record.given_back("kind.a", held)
    record.taken(1, 0, b"\0" * DOING_BYTES, False)
    record.given_back("kind.b", 5_000_000_000)  # 5 s
    a, b = sorted(record.report(), key=lambda k: k.kind)
    assert (a.kind, a.count, a.max_ms) == ("kind.a", 1000, 1.0)
    assert 0.5 <= a.p50_ms <= 0.5 * 1.13 and 0.99 <= a.p99_ms <= 1.0
    assert abs(a.total_ms - sum(holds) / 1e6) < 1e-9
    assert (b.count, b.p50_ms, b.max_ms) == (1, 5000.0, 5000.0)
    assert record.holder().pid == 0  # given back
    record.close()

"""The worker's PostgreSQL sessions carry ``lock_timeout``, ``statement_timeout`` and
``idle_in_transaction_session_timeout`` from its settings: a write waiting on a lock held
by a stopped process gives up (``DatabaseBusy``, nothing written), and the server ends the
session of a process stopped inside its transaction, so its locks go with it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.faults.procfs import frozen
from workflow_studio.storage import Database, DatabaseBusy, open_database
from workflow_studio.storage.base import Timeouts

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def admin(backend_options: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    """A plain session in the test's schema, with a table of one row to fight over."""
    with psycopg.connect(backend_options["postgres_url"], autocommit=True) as conn:
        schema = sql.Identifier(backend_options["postgres_schema"])
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(sql.SQL("SET search_path TO {}").format(schema))
        conn.execute("CREATE TABLE contested (id INT PRIMARY KEY, n INT NOT NULL)")
        conn.execute("INSERT INTO contested VALUES (1, 0)")
        yield conn


def test_sessions_carry_the_configured_timeouts(make_settings: Callable[..., Any]) -> None:
    db = open_database(make_settings(lock_timeout=0.25, statement_timeout=7,
                                     idle_in_transaction_timeout=3))
    conn = db.connection()
    shown = {name: conn.query_one(f"SHOW {name}") for name in (
        "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout",
        "application_name")}
    assert shown == {"lock_timeout": {"lock_timeout": "250ms"},
                     "statement_timeout": {"statement_timeout": "7s"},
                     "idle_in_transaction_session_timeout": {
                         "idle_in_transaction_session_timeout": "3s"},
                     "application_name": {"application_name":
                                          f"workflow-studio pid={os.getpid()}"}}
    db.close()


def test_a_write_waiting_on_a_held_row_gives_up_and_writes_nothing(
        backend_options: dict[str, Any], admin: psycopg.Connection[Any]) -> None:
    db = Database(backend_options["postgres_url"], dialect="postgres",
                  schema=backend_options["postgres_schema"], timeouts=Timeouts(lock=0.3))
    conn = db.connection()
    holder = psycopg.connect(backend_options["postgres_url"])  # a transaction, left open
    holder.execute(sql.SQL("UPDATE {}.contested SET n = 1").format(
        sql.Identifier(backend_options["postgres_schema"])))
    released = threading.Timer(3.0, holder.rollback)  # unbounded, the write waits this long
    released.start()
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseBusy, match="lock timeout"), conn.transaction():
            conn.execute("INSERT INTO contested VALUES (2, 2)")
            conn.execute("UPDATE contested SET n = 3 WHERE id = 1")
        assert time.monotonic() - started < 1.0
    finally:
        released.cancel()
        released.join()
        holder.rollback()
        holder.close()
    assert admin.execute("SELECT id, n FROM contested ORDER BY id").fetchall() == [(1, 0)]
    assert not conn.broken  # the session lives on
    assert conn.query_one("SELECT 1 AS ok") == {"ok": 1}
    db.close()


_STOPPED_IN_A_TRANSACTION = """
import sys
from workflow_studio.storage import Database
from workflow_studio.storage.base import Timeouts
db = Database(sys.argv[1], dialect="postgres", schema=sys.argv[2], migrate=False,
              timeouts=Timeouts(idle_in_transaction=1.0))
conn = db.connection()
with conn.transaction():
    conn.execute("UPDATE contested SET n = 1 WHERE id = 1")
    print("inside", flush=True)
    sys.stdin.read()
"""


def test_the_server_ends_the_session_of_a_process_stopped_in_its_transaction(
        backend_options: dict[str, Any], admin: psycopg.Connection[Any]) -> None:
    child = subprocess.Popen([sys.executable, "-c", _STOPPED_IN_A_TRANSACTION,
                              backend_options["postgres_url"],
                              backend_options["postgres_schema"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline().strip() == "inside"
        with frozen(child.pid):
            admin.execute("SET lock_timeout = '5s'")  # without the cut-off: LockNotAvailable
            started = time.monotonic()
            admin.execute("UPDATE contested SET n = 2 WHERE id = 1")  # waits for the cut-off
            assert time.monotonic() - started < 3.0
    finally:
        child.kill()
        child.wait(10)
        child.stdin.close()
        child.stdout.close()
    assert admin.execute("SELECT n FROM contested").fetchone() == (2,)

"""A reader paging events or stream chunks "after position N" never steps past a position
that an open transaction commits a moment later.

On PostgreSQL positions come from an IDENTITY taken at INSERT, so a transaction that took
a low position can commit after one that took a higher one. The readers (the runs API, the
world proxy, ``runs tail``, remote worlds) page by position: without a bound they would
return the higher one, move their cursor past the lower one, and never see it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from workflow_studio.engine import runs as starts
from workflow_studio.storage import Database
from workflow_studio.storage.world import events, streams
from workflow_studio.worker.proxy import pages

pytestmark = pytest.mark.postgres_only


def _new_run(db: Database) -> str:
    conn = db.connection()
    request = starts.StartRequest("wf", deployment=starts.Target("dpl_x", ("wf",)))
    return str(starts.start_run(conn, request).run["id"])


class LateCommit:
    """``write`` in a transaction on another thread's connection, held open until
    ``commit()`` (which returns once it has committed)."""

    def __init__(self, db: Database, write: Callable[[Any], None]) -> None:
        written, self._release = threading.Event(), threading.Event()

        def hold() -> None:
            conn = db.connection()
            with conn.transaction():
                write(conn)
                written.set()
                self._release.wait(30)

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()
        assert written.wait(30)

    def commit(self) -> None:
        self._release.set()
        self._thread.join(30)


def test_an_event_committed_late_is_not_skipped(make_database: Callable[..., Any]) -> None:
    db = make_database()
    run_id = _new_run(db)
    cursor = events.list_for_run(db.connection(), run_id)[-1]["position"]
    late = LateCommit(db, lambda c: events.append(c, run_id, "late", "a"))
    conn = db.connection()
    with conn.transaction():
        events.append(conn, run_id, "early", "b")  # a higher position, committed first
    # A follower reads now: it must not see "early" yet (its cursor would pass "late").
    seen = events.list_for_run(conn, run_id, cursor)
    assert seen == []
    assert pages.events(conn, run_id=run_id, cursor=cursor)[0] == []
    late.commit()
    seen = events.list_for_run(conn, run_id, cursor)
    assert [e["event_type"] for e in seen] == ["late", "early"]
    assert [e["event_type"] for e in pages.events(conn, run_id=run_id, cursor=cursor)[0]] \
        == ["late", "early"]


def test_a_stream_chunk_committed_late_is_not_skipped(
        make_database: Callable[..., Any]) -> None:
    db = make_database()
    run_id = _new_run(db)
    late = LateCommit(db, lambda c: streams.append(c, run_id, "out", '"late"'))
    conn = db.connection()
    streams.append(conn, run_id, "out", '"early"')
    assert streams.read(conn, run_id, "out") == []
    late.commit()
    assert [c["data_json"] for c in streams.read(conn, run_id, "out")] == ['"late"', '"early"']


def test_other_schemas_do_not_hold_readers_back(make_database: Callable[..., Any],
                                                backend_options: dict[str, Any]) -> None:
    """Writers are told apart by schema: an open transaction elsewhere bounds nobody here."""
    url, schema = backend_options["postgres_url"], backend_options["postgres_schema"]
    other = Database(url, dialect="postgres", schema=f"{schema}_b")
    try:
        db = make_database()
        run_id = _new_run(db)
        conn = db.connection()
        for n in range(5):  # positions 2-6 here, while the other schema's writer holds 1
            with conn.transaction():
                events.append(conn, run_id, f"e{n}", str(n))
        other_run = _new_run(other)
        late = LateCommit(other, lambda c: events.append(c, other_run, "x", "y"))
        assert len(events.list_for_run(conn, run_id)) == 6
        late.commit()
    finally:
        other.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(f"{schema}_b")))

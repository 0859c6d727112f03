"""Payload tags, durations, and the queue's claims, leases and fencing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from workflow_studio.authoring.durations import deadline_ms, seconds
from workflow_studio.compute import payloads
from workflow_studio.config.settings import load_settings
from workflow_studio.storage.world import WorldConflict, queue, runs
from workflow_studio.worker.execution import release_dead_worker


def test_payload_round_trip() -> None:
    value = {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "day": date(2026, 1, 2),
             "blob": b"\x00\xff", "id": uuid.UUID(int=7), "price": Decimal("1.10"),
             "pair": (1, (2, "x")), "list": [1, None, True], "$odd": {"$tuple": 1},
             "span": timedelta(seconds=90), "nan": float("inf")}
    assert payloads.loads(payloads.dumps(value)) == value
    assert payloads.loads(payloads.dumps({"$tuple": [1]})) == {"$tuple": [1]}


@pytest.mark.parametrize("bad,name", [(object(), "builtins.object"), ({1, 2}, "set"),
                                      ({1: "x"}, "dict key of type int")])
def test_unserialisable_values_name_their_type(bad: object, name: str) -> None:
    with pytest.raises(payloads.PayloadError, match=name):
        payloads.dumps({"nested": [bad]})


def test_durations() -> None:
    assert seconds("500ms") == 0.5 and seconds("2s") == 2 and seconds("10m") == 600
    assert seconds("1h") == 3600 and seconds("1d") == 86400 and seconds(3) == 3.0
    assert seconds(timedelta(minutes=1)) == 60
    assert deadline_ms(datetime(2026, 1, 1, tzinfo=UTC), 0) == 1767225600000
    assert deadline_ms("1s", 1000) == 2000
    for bad in ("soon", "-1s", -1):
        with pytest.raises(ValueError):
            seconds(bad)


@pytest.fixture
def conn(make_database):
    db = make_database()
    yield db.connection()
    db.close()


def _run(conn) -> str:
    with conn.transaction():
        run = runs.create(conn, "flow", "local", "local", '{"args":[],"kwargs":{}}')
        queue.enqueue_run(conn, run["id"], "local")
    return run["id"]


def _claim(conn, pid: int = 1, lease_ms: int = 30_000):
    with conn.transaction():
        return queue.claim(conn, "host-a", pid, lease_ms)


@pytest.mark.both_backends
def test_a_claim_is_exclusive_and_fenced_after_lease_loss(conn) -> None:
    run_id = _run(conn)
    first = _claim(conn, lease_ms=-1)  # already expired: as if the owner stopped beating
    assert first["run_id"] == run_id
    second = _claim(conn, pid=2)
    assert second["id"] == first["id"] and second["claim_token"] != first["claim_token"]
    assert _claim(conn, pid=3) is None
    assert not queue.holds(conn, first["id"], first["claim_token"])
    assert not queue.finish(conn, first["id"], first["claim_token"])
    assert queue.holds(conn, second["id"], second["claim_token"])


@pytest.mark.both_backends
def test_rewake_while_claimed_requeues_instead_of_deleting(conn) -> None:
    run_id = _run(conn)
    claimed = _claim(conn)
    queue.enqueue_run(conn, run_id, "local")  # e.g. a hook resumed meanwhile
    assert queue.finish(conn, claimed["id"], claimed["claim_token"])
    again = _claim(conn)
    assert again is not None and again["id"] == claimed["id"]
    assert queue.finish(conn, again["id"], again["claim_token"])
    assert _claim(conn) is None


@pytest.mark.both_backends
def test_concurrency_limit_per_deployment(conn) -> None:
    for _ in range(3):
        with conn.transaction():
            run = runs.create(conn, "flow", "dpl_x", "api", "{}")
            queue.enqueue_run(conn, run["id"], "dpl_x", concurrency_limit=2)
    assert _claim(conn) and _claim(conn)
    assert _claim(conn) is None


@pytest.mark.both_backends
def test_child_exit_releases_a_dead_process_claims(tmp_path: Path, conn, backend_options) -> None:
    _run(conn)
    claimed = _claim(conn, pid=4242)
    with conn.transaction():
        queue.release_owner(conn, "other-host", 4242)  # another machine's pid: untouched
    assert queue.holds(conn, claimed["id"], claimed["claim_token"])
    settings = load_settings(options={"sqlite_path": str(tmp_path / "world.db"),
                                      **backend_options}, environ={})
    with conn.transaction():
        assert queue.release_owner(conn, "host-a", 4242) == 1
    assert _claim(conn, pid=5) is not None
    assert release_dead_worker(settings, "host-a", 999_999) == 0


@pytest.mark.both_backends
def test_terminal_states_are_final(conn) -> None:
    run_id = _run(conn)
    with conn.transaction():
        runs.complete(conn, run_id, "1")
    for change in (lambda: runs.fail(conn, run_id, {}), lambda: runs.cancel(conn, run_id)):
        with pytest.raises(WorldConflict), conn.transaction():
            change()
    assert runs.get(conn, run_id)["status"] == "completed"


@pytest.mark.both_backends
def test_delayed_wake_while_claimed_survives_the_claim(conn) -> None:
    run_id = _run(conn)
    claimed = _claim(conn)
    later = claimed["visible_at"] + 60_000
    queue.enqueue_run(conn, run_id, "local", visible_at=later)  # e.g. a delayed publish
    assert queue.finish(conn, claimed["id"], claimed["claim_token"])  # would have deleted
    row = conn.query_one("SELECT visible_at, claim_token FROM queue_messages WHERE id = ?",
                         (claimed["id"],))
    assert row == {"visible_at": later, "claim_token": None}


@pytest.mark.both_backends
def test_a_healthy_hand_back_resets_the_crash_counter(conn) -> None:
    _run(conn)
    for _ in range(3):
        claimed = _claim(conn)
        assert claimed["claims"] == 1
        queue.finish(conn, claimed["id"], claimed["claim_token"], next_visible_at=0)

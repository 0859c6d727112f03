"""Schedules and their tick ledger (``schedule_ticks``).

A schedule row carries its definition (``spec_json``: crons, interval, zone, bounds,
jitter) and where the firing loop stands: ``next_tick_at`` is the next nominal tick,
``next_fire_at`` that tick plus its jitter (what the loop waits for). A process claims the
next tick by locking the row only if ``next_tick_at`` is still the value it read (``claim``:
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so racing processes move on at once; SQLite's one
writer serialises them) and moves it forward in the same transaction. That claim only saves
work: what makes a tick fire once is the ledger's primary key (schedule, tick) and the
unique (schedule_id, scheduled_at) of ``workflow_runs``, both written with the run.

Every tick the loop passes gets one ledger row: ``fired`` (with its run), ``buffered`` or a
skip reason (``compute.schedules``). Consecutive skipped ticks for the same reason are one
row (``until_at``, ``tick_count``; a count of None means more than could be counted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from workflow_studio.storage.base import Connection, Row

_COLUMNS = frozenset({
    "name", "workflow_name", "args_json", "kwargs_json", "spec_json", "overlap", "catchup",
    "catchup_window_seconds", "max_catchup", "paused", "pause_note", "paused_by",
    "paused_at", "remaining_actions", "deployment_id", "source", "config_deployment_id",
    "next_tick_at", "next_fire_at", "buffered", "updated_at"})
LIVE = "status IN ('pending', 'running')"  # as in the partial index, so SQLite uses it


def _decode(row: Row | None) -> Row | None:
    if row is None:
        return None
    out = dict(row)
    out["spec"] = json.loads(out["spec_json"])
    out["args"] = json.loads(out["args_json"])
    out["kwargs"] = json.loads(out["kwargs_json"])
    out["paused"] = bool(out["paused"])
    return out


def _decoded(row: Row | None) -> Row:
    decoded = _decode(row)
    assert decoded is not None
    return decoded


def create(conn: Connection, schedule_id: str, values: Mapping[str, Any],
           created_by: str | None, at: int) -> Row:
    """Insert a schedule (``values`` by column); ``IntegrityError`` if the name is taken."""
    names = sorted(k for k in values if k in _COLUMNS and k != "updated_at")
    columns = ", ".join(["id", *names, "created_by", "created_at", "updated_at"])
    marks = ", ".join("?" * (len(names) + 4))
    row = conn.query_one(f"INSERT INTO schedules ({columns}) VALUES ({marks}) RETURNING *",
                         (schedule_id, *(values[n] for n in names), created_by, at, at))
    return _decoded(row)


def get(conn: Connection, schedule_id: str) -> Row | None:
    return _decode(conn.query_one("SELECT * FROM schedules WHERE id = ?", (schedule_id,)))


def get_by_name(conn: Connection, name: str) -> Row | None:
    return _decode(conn.query_one("SELECT * FROM schedules WHERE name = ?", (name,)))


def list_schedules(conn: Connection, *, cursor: str | None = None, limit: int = 100,
                   source: str | None = None, paused: bool | None = None,
                   workflow: str | None = None) -> tuple[list[Row], bool]:
    """Oldest first (by id), ``limit`` at a time; (rows, has_more). ``cursor``: an id."""
    where: list[str] = ["id > ?"]
    params: list[str | int] = [cursor or ""]
    for column, value in (("source", source), ("workflow_name", workflow)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if paused is not None:
        where.append("paused = ?")
        params.append(int(paused))
    rows = conn.query(f"SELECT * FROM schedules WHERE {' AND '.join(where)} ORDER BY id"
                      " LIMIT ?", (*params, limit + 1))
    return [_decoded(r) for r in rows[:limit]], len(rows) > limit


def by_source(conn: Connection, source: str) -> list[Row]:
    return [_decoded(r) for r in conn.query(
        "SELECT * FROM schedules WHERE source = ? ORDER BY id", (source,))]


def update(conn: Connection, schedule_id: str, values: Mapping[str, Any]) -> Row | None:
    """Set ``values`` (by column) on the schedule; returns it as it now is."""
    names = [k for k in values if k in _COLUMNS]
    if not names:
        return get(conn, schedule_id)
    sets = ", ".join(f"{n} = ?" for n in names)
    return _decode(conn.query_one(f"UPDATE schedules SET {sets} WHERE id = ? RETURNING *",
                                  (*(values[n] for n in names), schedule_id)))


def delete(conn: Connection, schedule_id: str) -> bool:
    """Delete the schedule and its ledger (its runs keep their ``schedule_id``)."""
    conn.execute("DELETE FROM schedule_ticks WHERE schedule_id = ?", (schedule_id,))
    return conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)) == 1


def lock(conn: Connection, schedule_id: str) -> Row | None:
    """The schedule, locked until the transaction ends (waiting for a firing process)."""
    suffix = " FOR UPDATE" if conn.dialect == "postgres" else ""
    return _decode(conn.query_one(f"SELECT * FROM schedules WHERE id = ?{suffix}",
                                  (schedule_id,)))


# -- the firing loop -----------------------------------------------------------------
def due(conn: Connection, now_ms: int, limit: int = 50) -> list[Row]:
    """Unpaused schedules whose next tick is due by ``now_ms`` (read without locks)."""
    return [_decoded(r) for r in conn.query(
        "SELECT * FROM schedules WHERE paused = 0 AND next_fire_at <= ?"
        " ORDER BY next_fire_at LIMIT ?", (now_ms, limit))]


def earliest_fire(conn: Connection) -> int | None:
    """When the next unpaused schedule is due (None: none is)."""
    row = conn.query_one("SELECT MIN(next_fire_at) AS at FROM schedules WHERE paused = 0")
    return None if row is None or row["at"] is None else int(row["at"])


def claim(conn: Connection, schedule_id: str, next_tick_at: int) -> Row | None:
    """Inside a transaction: the schedule, locked, if it is unpaused and still at tick
    ``next_tick_at``; None if another process moved it (or holds it: PostgreSQL skips a
    locked row instead of waiting for it)."""
    suffix = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgres" else ""
    return _decode(conn.query_one(
        f"SELECT * FROM schedules WHERE id = ? AND next_tick_at = ? AND paused = 0{suffix}",
        (schedule_id, next_tick_at)))


def with_buffer(conn: Connection) -> list[str]:
    """Unpaused schedules with buffered ticks waiting for their live run to end."""
    return [r["id"] for r in conn.query(
        "SELECT id FROM schedules WHERE buffered > 0 AND paused = 0")]


def claim_buffered(conn: Connection, schedule_id: str) -> Row | None:
    """Inside a transaction: the schedule, locked, if it is unpaused and has buffered ticks
    (None if not, or if another process holds it)."""
    suffix = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgres" else ""
    return _decode(conn.query_one(
        f"SELECT * FROM schedules WHERE id = ? AND buffered > 0 AND paused = 0{suffix}",
        (schedule_id,)))


def live_runs(conn: Connection, schedule_id: str) -> list[str]:
    """The schedule's runs that have not ended (pending or running), oldest first."""
    return [r["id"] for r in conn.query(
        f"SELECT id FROM workflow_runs WHERE schedule_id = ? AND {LIVE} ORDER BY id",
        (schedule_id,))]


# -- the ledger ----------------------------------------------------------------------
def record_tick(conn: Connection, schedule_id: str, scheduled_at: int, outcome: str, *,
                at: int, source: str = "tick", reason: str | None = None,
                run_id: str | None = None, until_at: int | None = None,
                count: int | None = 1) -> bool:
    """Record what became of a tick; False (nothing written) if it already has a row."""
    return conn.execute(
        "INSERT INTO schedule_ticks (schedule_id, scheduled_at, outcome, reason, run_id,"
        " source, until_at, tick_count, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (schedule_id, scheduled_at) DO NOTHING",
        (schedule_id, scheduled_at, outcome, reason, run_id, source, until_at, count,
         at)) == 1


def refire_tick(conn: Connection, schedule_id: str, scheduled_at: int, outcome: str,
                run_id: str | None, source: str, at: int) -> bool:
    """A tick recorded as skipped gets ``outcome`` after all (a backfill); False if it
    fired or is buffered already. A skipped range row keeps standing for its other ticks."""
    return conn.execute(
        "UPDATE schedule_ticks SET outcome = ?, run_id = ?, source = ?, reason = NULL,"
        " recorded_at = ?, until_at = NULL, tick_count = 1 WHERE schedule_id = ?"
        " AND scheduled_at = ? AND outcome NOT IN ('fired', 'buffered')"
        " AND (until_at IS NULL OR until_at = scheduled_at)",
        (outcome, run_id, source, at, schedule_id, scheduled_at)) == 1


def mark_tick(conn: Connection, schedule_id: str, scheduled_at: int, outcome: str,
              reason: str | None, run_id: str | None = None) -> None:
    """Correct what a tick recorded in this transaction became (a refused start)."""
    conn.execute("UPDATE schedule_ticks SET outcome = ?, reason = ?, run_id = ?"
                 " WHERE schedule_id = ? AND scheduled_at = ?",
                 (outcome, reason, run_id, schedule_id, scheduled_at))


def split_range(conn: Connection, schedule_id: str, scheduled_at: int,
                next_tick: int | None) -> bool:
    """If a range row of skipped ticks starts at ``scheduled_at``, make it start at
    ``next_tick`` instead (one tick fewer), so that tick can be decided on its own; False
    when no such row is there."""
    row = tick(conn, schedule_id, scheduled_at)
    if row is None or row["outcome"] in ("fired", "buffered") or row["until_at"] is None \
            or row["until_at"] <= scheduled_at:
        return False
    conn.execute("DELETE FROM schedule_ticks WHERE schedule_id = ? AND scheduled_at = ?",
                 (schedule_id, scheduled_at))
    if next_tick is not None and next_tick <= row["until_at"]:
        count = row["tick_count"]
        record_tick(conn, schedule_id, next_tick, row["outcome"], at=row["recorded_at"],
                    source=row["source"], reason=row["reason"], until_at=row["until_at"],
                    count=None if count is None else count - 1)
    return True


def tick(conn: Connection, schedule_id: str, scheduled_at: int) -> Row | None:
    return conn.query_one("SELECT * FROM schedule_ticks WHERE schedule_id = ?"
                          " AND scheduled_at = ?", (schedule_id, scheduled_at))


def ticks_in(conn: Connection, schedule_id: str, first: int, last: int) -> list[Row]:
    """Ledger rows of ticks in ``[first, last]`` (a range row counts if it starts there)."""
    return conn.query("SELECT * FROM schedule_ticks WHERE schedule_id = ? AND scheduled_at"
                      " BETWEEN ? AND ? ORDER BY scheduled_at", (schedule_id, first, last))


def recent_ticks(conn: Connection, schedule_id: str, limit: int = 20) -> list[Row]:
    """The newest ``limit`` ledger rows, newest first, with their run's status."""
    return conn.query(
        "SELECT t.*, r.status AS run_status FROM schedule_ticks t LEFT JOIN workflow_runs r"
        " ON r.id = t.run_id WHERE t.schedule_id = ? ORDER BY t.scheduled_at DESC LIMIT ?",
        (schedule_id, limit))


def oldest_buffered(conn: Connection, schedule_id: str) -> int | None:
    row = conn.query_one("SELECT MIN(scheduled_at) AS at FROM schedule_ticks WHERE"
                         " schedule_id = ? AND outcome = 'buffered'", (schedule_id,))
    return None if row is None or row["at"] is None else int(row["at"])


def promote(conn: Connection, schedule_id: str, scheduled_at: int, run_id: str,
            at: int) -> bool:
    """A buffered tick fires (compare-and-set: False if another process promoted it)."""
    return conn.execute(
        "UPDATE schedule_ticks SET outcome = 'fired', run_id = ?, recorded_at = ?"
        " WHERE schedule_id = ? AND scheduled_at = ? AND outcome = 'buffered'",
        (run_id, at, schedule_id, scheduled_at)) == 1


def drop_buffer(conn: Connection, schedule_id: str, reason: str, at: int) -> int:
    """Buffered ticks become skipped (the schedule's overlap policy no longer buffers)."""
    return conn.execute(
        "UPDATE schedule_ticks SET outcome = 'skipped_overlap', reason = ?, recorded_at = ?"
        " WHERE schedule_id = ? AND outcome = 'buffered'", (reason, at, schedule_id))


def purge_ticks(conn: Connection, before_ms: int, limit: int) -> int:
    """Delete up to ``limit`` ledger rows recorded before ``before_ms`` (never buffered ones,
    which are still to fire); returns how many."""
    with conn.transaction():
        return conn.execute(
            "DELETE FROM schedule_ticks WHERE rowid IN (SELECT rowid FROM schedule_ticks"
            " WHERE recorded_at < ? AND outcome != 'buffered' LIMIT ?)"
            if conn.dialect == "sqlite" else
            "DELETE FROM schedule_ticks WHERE ctid IN (SELECT ctid FROM schedule_ticks"
            " WHERE recorded_at < ? AND outcome != 'buffered' LIMIT ?)", (before_ms, limit))

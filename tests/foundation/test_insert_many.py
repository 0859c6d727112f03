"""``Connection.insert_many``: one INSERT's VALUES group for many rows, split into several
statements when the rows exceed a statement's parameter limit, on both dialects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from workflow_studio.storage import IntegrityError, postgres, sqlite

pytestmark = pytest.mark.both_backends
INSERT = "INSERT INTO im_rows (id, kind, note, n) VALUES (?, 'fixed', ?, ?)"


@pytest.mark.parametrize("limit", [None, 7])  # 7 parameters: one row per statement
def test_rows_are_inserted_in_order_with_nulls_and_literals(
        make_database: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
        limit: int | None) -> None:
    if limit is not None:
        monkeypatch.setattr(sqlite, "MAX_VARIABLES", limit)
        monkeypatch.setattr(postgres, "MAX_PARAMETERS", limit)
    conn = make_database().connection()
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS im_rows (id TEXT PRIMARY KEY, kind TEXT,"
                     " note TEXT, n BIGINT)")
        rows = [(f"r{i:02d}", None if i % 3 else f"100% note {i}", i * 10**12) for i in range(25)]
        conn.insert_many(INSERT, rows)
    stored = conn.query("SELECT id, kind, note, n FROM im_rows ORDER BY id")
    assert [(r["id"], r["note"], r["n"]) for r in stored] == rows
    assert {r["kind"] for r in stored} == {"fixed"}


def test_a_duplicate_is_an_integrity_error(make_database: Callable[..., Any]) -> None:
    conn = make_database().connection()
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS im_rows (id TEXT PRIMARY KEY, kind TEXT,"
                     " note TEXT, n BIGINT)")
    with pytest.raises(IntegrityError), conn.transaction():
        conn.insert_many(INSERT, [("same", None, 1), ("same", None, 2)])
    assert conn.query("SELECT id FROM im_rows") == []

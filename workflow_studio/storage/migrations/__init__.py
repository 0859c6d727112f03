"""Numbered schema migrations, applied at startup and recorded in ``schema_migrations``.

Each dialect has a folder of ``NNNN_name.sql`` files. ``apply`` takes the write lock before it
reads what is applied (an advisory lock on PostgreSQL), so several processes or nodes
starting at once apply each migration once.
"""

from __future__ import annotations

import re
import time
from importlib import resources

from workflow_studio.storage.base import Connection

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available(dialect: str) -> list[tuple[int, str, str]]:
    """(number, name, sql) for each migration of ``dialect``, in order."""
    folder = resources.files(__name__) / dialect
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def apply(conn: Connection) -> list[str]:
    """Apply every pending migration; return the names applied by this call."""
    applied: list[str] = []
    with conn.transaction():
        conn.lock("migrations")
        conn.create_schema()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        done = {r["version"] for r in conn.query("SELECT version FROM schema_migrations")}
        for number, name, sql in available(conn.dialect):
            if number in done:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, int(time.time() * 1000)),
            )
            applied.append(name)
    return applied

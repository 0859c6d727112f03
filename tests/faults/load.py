"""Load, probes and the final accounting of the fault tests: keep-alive clients triggering
10-step runs, one-off probe requests, and the check that every accepted run completed
exactly once."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.conftest import ADMIN_KEY

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
STEPS = 10
RUN = {"workflowName": "total", "args": [STEPS]}  # sum(range(10)) == 45
OUTPUT = 45


@dataclass
class Answer:
    seconds: float
    status: int
    code: str
    key: str
    run_id: str | None = None


def trigger(url: str, key: str, session: requests.Session | None = None,
            timeout: float = 30) -> Answer:
    """``POST /v1/runs?wait=5`` for one 10-step run (a new connection unless ``session``)."""
    started = time.monotonic()
    send = session.post if session is not None else requests.post
    response = send(f"{url}/v1/runs?wait=5", json=RUN,
                    headers={**AUTH, "Idempotency-Key": key}, timeout=timeout)
    seconds = time.monotonic() - started
    body = response.json()
    if response.status_code in (200, 202):
        return Answer(seconds, response.status_code, "", key, body["id"])
    return Answer(seconds, response.status_code, body.get("code", ""), key)


@dataclass
class Load:
    """``clients`` keep-alive clients, each triggering runs one after another; a 503 is
    retried with the same Idempotency-Key, as a client does, until it is accepted."""

    url: str
    clients: int = 6
    accepted: dict[str, str] = field(default_factory=dict)  # run id -> key
    refused: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                key = uuid.uuid4().hex
                while True:
                    try:
                        answer = trigger(self.url, key, session)
                    except requests.ConnectionError:  # its process was killed: retry
                        continue
                    if answer.run_id is not None:
                        self.accepted[answer.run_id] = key
                        break
                    self.refused.append(answer)
                    assert answer.status == 503, answer
                    self._stop.wait(0.1)  # the client's own backoff

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(60)
        assert not any(t.is_alive() for t in self._threads), "a load client hung"


def _rows(backend: str, where: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Rows of ``sql`` (``?`` placeholders) read straight from the worker's database."""
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(where)) as conn:
            return conn.execute(sql, params).fetchall()
    import psycopg
    from psycopg import sql as pgsql

    url, schema = where
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))
        return conn.execute(sql.replace("?", "%s"), params).fetchall()


def assert_each_completed_once(backend: str, where: Any, accepted: set[str],
                               timeout: float = 90) -> None:
    """Every accepted run completes, once; and no run exists that was not accepted."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _rows(backend, where, "SELECT id, status, output_json FROM workflow_runs")
        if all(status == "completed" for _, status, _ in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    found = {r[0] for r in rows}
    assert found == accepted, ("lost", accepted - found, "never accepted", found - accepted)
    unfinished = [r for r in rows if (r[1], r[2]) != ("completed", str(OUTPUT))]
    assert unfinished == [], ("not completed as they should", unfinished)
    ended = _rows(backend, where, "SELECT run_id, COUNT(*) FROM workflow_events WHERE"
                  " event_type = 'run_completed' GROUP BY run_id")
    twice = {run: n for run, n in ended if n != 1}
    assert twice == {} and len(ended) == len(accepted), ("completed more than once", twice)
    steps = _rows(backend, where, "SELECT run_id, COUNT(*), COUNT(DISTINCT seq) FROM"
                  " workflow_steps GROUP BY run_id")
    wrong = {run: (n, d) for run, n, d in steps if (n, d) != (STEPS, STEPS)}
    assert wrong == {}, ("steps recorded wrongly", wrong)

"""Cross-node wake-ups on PostgreSQL: ``LISTEN`` on the schema's channel.

Every enqueue that makes work claimable calls ``pg_notify`` inside its transaction
(``storage/world/queue.py``), so PostgreSQL delivers the notification to every listening
process on every node when the work commits. One dedicated connection per process listens
(it is never used for anything else, so it never sits inside a transaction) and wakes the
executor's idle slots. If the connection breaks it is reopened with backoff; a reconnect
wakes the slots once, because notifications sent meanwhile were lost. The executor's safety
poll stays as the fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql as pgsql

log = logging.getLogger("workflow_studio.engine")
RECONNECT_MAX = 5.0


class Listener:
    """A daemon thread: LISTEN ``channel``; ``on_notify(1)`` per notification, ``on_notify(0)``
    after each (re)connect."""

    def __init__(self, url: str, channel: str, on_notify: Callable[[int], None],
                 name: str = "listener") -> None:
        self.url, self.channel, self.on_notify = url, channel, on_notify
        self.connected = False
        self._stopping = False
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self.channel)))
                    self.connected, delay = True, 0.1
                    self.on_notify(0)  # anything sent while we were not listening
                    while not self._stopping:
                        for _ in conn.notifies(timeout=0.5):  # yields as each one arrives
                            self.on_notify(1)
                            if self._stopping:
                                break
            except psycopg.Error as exc:
                if self.connected:
                    log.warning("wake-up listener lost its connection: %s", exc)
            except Exception:
                log.exception("wake-up listener failed")
            self.connected = False
            if not self._stopping:
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)

"""Doorbells between executors on one machine: a Unix datagram socket per process.

Each executor binds ``<tmp>/ws-wake-<hash of the database path>/<pid>.sock``. Work that a
process cannot start itself (no idle slot) rings its peers; gunicorn's master rings everyone
after releasing a dead worker's claims; a process rings itself when it sets an earlier
timer. Waiting on the socket costs nothing, so an idle executor only wakes for a bell, a
due timer, a lease heartbeat or a slow safety poll. Without Unix sockets (or for a database
shared across machines) the safety poll alone still finds the work.

With no directory (PostgreSQL: peers are found through LISTEN/NOTIFY, ``notify.py``) the
channel is a private socket pair: the process can still ring itself (an earlier timer, a
notification) and its heartbeat still waits on a socket instead of sleeping blindly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import tempfile
import time
from pathlib import Path

PEER_CACHE_SECONDS = 1.0


def channel_dir(database_target: str) -> Path:
    digest = hashlib.sha256(os.path.abspath(database_target).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ws-wake-{digest}"


class WakeChannel:
    """This process's doorbell, and the bells of its peers."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.sock: socket.socket | None = None
        self.path: Path | None = None
        self._peers: list[str] = []
        self._peers_at = 0.0
        self._self_end: socket.socket | None = None  # private pair (no directory)

    def open(self) -> WakeChannel:
        if not hasattr(socket, "AF_UNIX"):
            return self
        if self.directory is None:
            try:
                self.sock, self._self_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                self.sock.setblocking(False)
                self._self_end.setblocking(False)
            except OSError:
                self.sock = None
            return self
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            self.path = self.directory / f"{os.getpid()}.sock"
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(self.path))
            sock.setblocking(False)
            self.sock = sock
        except OSError:
            self.sock = None  # the safety poll covers it
        return self

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` s; True if a bell rang (all pending rings are drained)."""
        if self.sock is None:
            time.sleep(max(0.0, timeout))
            return False
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        with contextlib.suppress(OSError):
            while self.sock.recv(64):
                pass
        return True

    def ring_self(self) -> None:
        if self._self_end is not None:
            with contextlib.suppress(OSError):
                self._self_end.send(b"!")
        elif self.sock is not None and self.path is not None:
            with contextlib.suppress(OSError):
                self.sock.sendto(b"!", str(self.path))

    def ring_peers(self) -> None:
        if self.sock is None or self.directory is None:
            return
        now = time.monotonic()
        if now - self._peers_at > PEER_CACHE_SECONDS:
            self._peers = [str(p) for p in self.directory.glob("*.sock") if p != self.path]
            self._peers_at = now
        for peer in self._peers:
            _ring(self.sock, peer)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self._self_end is not None:
            self._self_end.close()
            self._self_end = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only succeeds when no peer is left


def _ring(sock: socket.socket, peer: str) -> None:
    try:
        sock.sendto(b"!", peer)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(OSError):
            os.unlink(peer)  # a dead process's bell
    except OSError:
        pass  # a full buffer already holds a ring


def ring_all(directory: Path) -> None:
    """Ring every executor using this directory (gunicorn's master after ``child_exit``)."""
    if not directory.is_dir() or not hasattr(socket, "AF_UNIX"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for peer in directory.glob("*.sock"):
            _ring(sock, str(peer))

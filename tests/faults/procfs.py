"""What the fault tests read from /proc (no extra dependency): a process's state and
parent, which process holds an ``flock``, and which process owns a TCP connection."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def state(pid: int) -> str | None:
    """The process's state letter (``T``: stopped, ``Z``: zombie), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def gone(pid: int) -> bool:
    return state(pid) in (None, "Z", "X")


def children(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (a gunicorn master's worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return sorted(found)


def flock_holders(path: str) -> set[int]:
    """The pids holding an ``flock`` on ``path`` (waiters, the ``->`` lines, excluded)."""
    suffix = f":{os.stat(path).st_ino} "
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and suffix in f"{fields[5]} ":
            holders.add(int(fields[4]))
    return holders


def wait_stopped(pid: int, timeout: float = 2.0) -> None:
    """Until SIGSTOP has taken effect (the kernel stops a process asynchronously)."""
    deadline = time.monotonic() + timeout
    while state(pid) != "T":
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.001)


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """``pid`` stopped with SIGSTOP for the block's duration (continued however it ends)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_stopped(pid)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _tcp_sockets() -> dict[int, int]:
    """Socket inode -> local port, of every TCP socket of this network namespace."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                ports[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return ports


def port_owners(pids: Iterable[int]) -> dict[int, int]:
    """Local TCP port -> pid, for the sockets ``pids`` hold (a PostgreSQL backend's
    ``client_port`` names the worker process at the other end)."""
    ports = _tcp_sockets()
    owners = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        port = ports.get(int(link[8:-1]))
                        if port is not None:
                            owners[port] = pid
    return owners

"""Helpers for tests that run several worker instances ("nodes") on one PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any


def process_tree(root: int) -> set[int]:
    """``root`` and every descendant (read from /proc, no extra dependency)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, ()))
    return tree


def kill_instance(server: Any) -> set[int]:
    """kill -9 a whole instance (gunicorn master and workers) as a dying machine would:
    everything is stopped first, so no process can notice and clean up, then killed."""
    pids = process_tree(server.process.pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    server.process.wait(10)
    return pids


def pids_in(path: Path) -> list[int]:
    """The pids a step recorded (``bump`` in the e2e project writes "pid time" lines)."""
    return [int(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]

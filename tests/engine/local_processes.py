"""Local-world processes for tests that need more than one: each is a fresh interpreter
running a small script, with the local world in the test's ``local.db``.

The workflows live in ``procflows.py``, written into the test's directory, so a process
has registered them only if its script imports that module. Steps record each attempt
(pid and time) in a file of that directory: a test sees which process ran what, and when.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

FLOWS = '''
import os
import time
from pathlib import Path

import workflow_studio as ws

HERE = Path(os.environ["FLOW_DIR"])


def mark(name):
    with open(HERE / name, "a") as handle:
        handle.write(f"{os.getpid()} {time.time()}\\n")
    return len((HERE / name).read_text().splitlines())


@ws.step(max_retries=0)
def slow():
    attempt = mark("slow-attempts")
    if attempt == 1:
        time.sleep(60)  # the test ends this process meanwhile
    return attempt


@ws.workflow
def long_run():
    return slow()


@ws.step
def after_nap():
    return mark("after-nap")


@ws.workflow
def napper():
    ws.sleep("300ms")
    return after_nap()
'''

OTHER_FLOWS = '''
import workflow_studio as ws


@ws.step
def one():
    return 1


@ws.workflow
def other():
    return one()
'''


def write_flows(directory: Path) -> None:
    (directory / "procflows.py").write_text(FLOWS)
    (directory / "otherflows.py").write_text(OTHER_FLOWS)


def spawn(directory: Path, script: str, *args: str) -> subprocess.Popen[str]:
    """Start ``script`` in a fresh interpreter in ``directory`` (so it can import the flows)."""
    env = {**os.environ, "WORKFLOW_LOCAL_DB": str(directory / "local.db"),
           "FLOW_DIR": str(directory)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            cwd=directory, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(*processes: subprocess.Popen[str] | None) -> None:
    """Kill what still runs and close every pipe (a test's clean-up, whatever happened)."""
    for process in processes:
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.communicate()


def finish(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The process's output once it exited 0 (its stderr in the failure otherwise)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}:\n{out}\n{err}"
    return out


def attempts(path: Path) -> list[tuple[int, float]]:
    """(pid, time) of each attempt a step recorded in ``path``."""
    if not path.exists():
        return []
    return [(int(pid), float(at)) for pid, at in
            (line.split() for line in path.read_text().splitlines())]


def wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[tuple[int, float]]:
    deadline = time.monotonic() + timeout
    while len(found := attempts(path)) < count:
        assert time.monotonic() < deadline, f"{path.name}: {found}"
        time.sleep(0.01)
    return found

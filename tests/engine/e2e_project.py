"""A workflow project the end-to-end tests build, upload and activate on a real worker.

Steps coordinate with the test through files in a directory passed as an argument, because
they run in gunicorn's worker processes, not in the test process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.deployments.helpers import write_project
from workflow_studio.builder.project import BuildResult, build_project

SOURCE = '''
import os
import time
from pathlib import Path

import workflow_studio as ws

VERSION = {version!r}


def bump(directory, name):
    path = Path(directory) / name
    with open(path, "a") as handle:
        handle.write(f"{{os.getpid()}} {{time.time()}}\\n")
    return len(path.read_text().splitlines())


@ws.step
def add(a, b):
    return a + b


@ws.workflow
def total(n):
    value = 0
    for i in range(n):
        value = add(value, i)
    return value


@ws.step(max_retries=3, retry_delay=0.05, backoff=1.0)
def flaky(directory, name, failures):
    count = bump(directory, name)
    if count <= failures:
        raise ValueError(f"attempt {{count}}")
    return count


@ws.workflow
def retrying(directory, name, failures):
    return flaky(directory, name, failures)


@ws.step
def fatal():
    raise ws.FatalError("no retry for this")


@ws.workflow
def failing():
    fatal()


@ws.workflow
def sleeper(duration):
    ws.sleep(duration)
    return add(1, 2)


@ws.workflow
def waiter(token):
    hook = ws.create_hook(token=token)
    return {{"payload": hook.wait(), "version": VERSION, "step": version_step()}}


@ws.step
def version_step():
    return VERSION


@ws.step
def square(x):
    return x * x


@ws.workflow
def fanout(items):
    return square.map(items)


@ws.step
def chatter(directory, count):
    out = ws.get_writable("log")
    out.write("first")
    release = Path(directory) / "release-stream"
    deadline = time.time() + 30
    while not release.exists() and time.time() < deadline:
        time.sleep(0.01)
    for i in range(1, count):
        out.write(i)
    out.close()
    return count


@ws.workflow
def streaming(directory, count):
    return chatter(directory, count)


@ws.step
def crashable(directory):
    count = bump(directory, "crash-attempts")
    if count == 1:
        deadline = time.time() + 60
        while time.time() < deadline:  # the test kills this process meanwhile
            time.sleep(0.01)
    return f"done on attempt {{count}}"


@ws.step
def slow(directory):
    count = bump(directory, "slow-attempts")
    release = Path(directory) / "release-slow"
    deadline = time.time() + 30
    while not release.exists() and time.time() < deadline:
        time.sleep(0.01)
    return count


@ws.workflow
def graceful(directory):
    first = slow(directory)
    return {{"slow": first, "after": add(1, 1)}}


@ws.step
def nap(seconds, i):
    time.sleep(seconds)
    return i


@ws.workflow
def napping(seconds, count):
    return [nap(seconds, i) for i in range(count)]


@ws.workflow
def survivor(directory):
    before = add(20, 22)
    return {{"before": before, "crash": crashable(directory)}}
'''


def build(root: Path, version: str = "A", package: str = "engine_app") -> BuildResult:
    config = write_project(root, {f"{package}/__init__.py": "",
                                  f"{package}/flows.py": SOURCE.format(version=version)},
                           [f"{package}.flows"])
    return build_project(str(config), root / "out")


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met before the deadline")

"""The SDK's import weight: authoring workflows and starting them locally needs no Flask.

Each check runs in a fresh interpreter, so nothing this test process imported counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("flask", "marshmallow")

AUTHORING = """
import sys

import workflow_studio as ws

config = ws.define_config(
    workflows=["myapp.workflows"],
    worker={"storage": {"sqlite_path": "data/worker.db"}, "security": {"require_https": True}},
)
assert config is not None


@ws.step
def add(a: int, b: int) -> int:
    return a + b


@ws.workflow
def total(n: int) -> int:
    return add(n, 1)
"""

CHECK = """
heavy = [name for name in {heavy!r} if name in sys.modules]
assert not heavy, f"imported {{heavy}}"
print("ok")
"""

START = """
from workflow_studio.sdk import get_world

run = ws.start(total, 41)
assert run.result(timeout=30) == 42, run.info()
get_world().close()
"""


def _run(code: str, tmp_path: Path) -> None:
    env = {**os.environ, "WORKFLOW_LOCAL_DB": str(tmp_path / "local.db")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok")


def test_authoring_imports_neither_flask_nor_marshmallow(tmp_path: Path) -> None:
    _run(AUTHORING + CHECK.format(heavy=HEAVY), tmp_path)


def test_starting_a_local_run_imports_neither_flask_nor_marshmallow(tmp_path: Path) -> None:
    _run(AUTHORING + START + CHECK.format(heavy=HEAVY), tmp_path)
    assert (tmp_path / "local.db").exists()

"""Static typing of the public SDK, checked by running mypy on a small client module.

Slow-ish (one mypy run, a few seconds); skipped where mypy is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import workflow_studio

SAMPLE = '''
from typing import Any

import workflow_studio as ws


@ws.step
def add(a: int, b: int) -> int:
    return a + b


@ws.workflow
def wf(n: int) -> int:
    return add(n, 1)


@ws.workflow(name="keyed")
def keyed(order: str, idempotency_key: str | None = None) -> dict[str, Any]:
    return {"order": order}


reveal_type(ws.start(wf, 1))
reveal_type(ws.start(wf, 1).result())
reveal_type(ws.start_with(idempotency_key="k").start(wf, 1))
reveal_type(ws.start_with().start(keyed, "o", idempotency_key="x").result())
reveal_type(ws.start("wf", 1))
reveal_type(add)
reveal_type(add.map([1, 2]))
ws.start(wf, "wrong")  # E: wrong argument type
ws.start_with(idempotency_key="k").start(wf, 1, 2)  # E: too many arguments
add(1, "two")  # E: wrong step argument
ws.not_a_name  # E: misspelt public name
'''


def test_mypy_types_start_run_result_and_rejects_bad_arguments(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed")
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    root = Path(workflow_studio.__file__).resolve().parents[1]
    env = {**os.environ, "MYPYPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-error-summary", "--hide-error-context", "--cache-dir", str(tmp_path / "cache"),
         str(sample)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    revealed = [line.split("Revealed type is ", 1)[1].strip('"').replace("builtins.", "")
                for line in lines if "Revealed type is" in line]  # older mypy: builtins.int
    assert revealed == [
        "workflow_studio.sdk.runs.Run[int]",
        "int",
        "workflow_studio.sdk.runs.Run[int]",
        "dict[str, Any]",
        "workflow_studio.sdk.runs.Run[Any]",
        "workflow_studio.authoring.decorators.StepFunction[[a: int, b: int], int]",
        "list[int]",
    ], done.stdout + done.stderr
    errors = {int(line.split(":")[1]) for line in lines if ": error:" in line}
    expected = {number for number, line in enumerate(sample.read_text().splitlines(), 1)
                if "# E:" in line}
    assert errors == expected, done.stdout + done.stderr

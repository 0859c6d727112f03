"""The unexpected-callback count is shared by every process of a multi-process app server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_studio.integrations.diagnostics import REMOTE_WORLD, AppDiagnostics
from workflow_studio.integrations.endpoints import dispatch

HITS = 300
SCRIPT = """
import sys
from workflow_studio.integrations.diagnostics import AppDiagnostics
from workflow_studio.integrations.endpoints import dispatch

diagnostics = AppDiagnostics(sys.argv[1], environ={"WORKFLOW_TARGET_WORLD": sys.argv[2]})
sys.stdin.readline()  # start together
for _ in range(int(sys.argv[3])):
    assert dispatch(diagnostics, "POST", "/.well-known/workflow/v1/step").status == 409
"""


def test_two_processes_add_up(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(directory), REMOTE_WORLD,
                                   str(HITS)], stdin=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:  # release both only once both are running
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.close()
    assert [p.wait(timeout=60) for p in processes] == [0, 0]

    diagnostics = AppDiagnostics(directory, environ={"WORKFLOW_TARGET_WORLD": REMOTE_WORLD})
    assert diagnostics.report().unexpected_local_callbacks == 2 * HITS
    dispatch(diagnostics, "POST", "/.well-known/workflow/v1/flow")  # this process too
    assert diagnostics.report().unexpected_local_callbacks == 2 * HITS + 1

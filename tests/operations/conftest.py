"""The operator's kit under test: the runbook scripts run as an operator runs them.

``tool(name)`` finds a program the checks need (promtool, systemd-analyze, honcho,
shellcheck, pg_dump); without it the test is skipped with a loud reason, and fails under CI,
where ``scripts/test`` installs them. ``runbook`` runs one script of deploy/runbook with the
environment an operator would give it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RUNBOOK = DEPLOY / "runbook"
SCRIPTS = sorted(p.name for p in RUNBOOK.glob("*.sh") if p.name != "lib.sh")
BIN = Path(sys.executable).parent
CLI = BIN / "workflow-studio"
EXAMPLE = ROOT / "examples" / "hello"


def find_tool(name: str) -> str:
    """The path of ``name`` (the venv's bin first); skip loudly, or fail under CI."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found:
        return found
    message = (f"{name} is not installed: this check of deploy/ did not run "
               "(scripts/test installs it; Debian: prometheus, systemd, shellcheck, "
               "postgresql-client; honcho: pip install -e '.[test]')")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def tool() -> Callable[[str], str]:
    return find_tool


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def runbook(tmp_path: Path) -> Callable[..., Result]:
    """Run deploy/runbook/SCRIPT with an operator's environment; returns its Result."""

    def run(script: str, *args: str, url: str | None = None, key: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        full = {k: v for k, v in os.environ.items()
                if not k.startswith("WORKFLOW_") or k.startswith("WORKFLOW_TEST_")}
        full.update({"WORKFLOW_STUDIO_BIN": str(CLI),
                     "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
        if url is not None:
            full["WORKFLOW_COMPUTE_BASE_URL"] = url
        if key is not None:
            full["WORKFLOW_COMPUTE_API_KEY"] = key
        full.update(env or {})
        done = subprocess.run([str(RUNBOOK / script), *args], env=full, cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A copy of examples/hello, the deployable example project."""
    project = tmp_path / "hello"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".workflow-studio"))
    return project

"""``workflow-studio runs tail``: follows a run's events live until the run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ADMIN_KEY
from tests.engine.e2e_project import wait_for
from tests.engine.test_e2e import deploy, parked_on
from workflow_studio.cli import runs as runs_cli
from workflow_studio.client import ComputeClient


@pytest.mark.e2e
@pytest.mark.both_backends
def test_tail_follows_a_parked_run_to_its_end(tmp_path: Path, worker: Any) -> None:
    remote = ComputeClient(worker.url, ADMIN_KEY)
    deploy(remote, tmp_path / "project")
    run = remote.trigger_run("waiter", ["tail-tok"])
    wait_for(lambda: parked_on(remote, run["id"], "hook"))
    command = [sys.executable, "-m", "workflow_studio.cli", "runs", "tail", run["id"], "--json",
               "--timeout", "60", "--url", worker.url, "--api-key", ADMIN_KEY]
    lines: list[dict[str, Any]] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as tail:

        def read() -> None:
            assert tail.stdout is not None
            lines.extend(json.loads(line) for line in tail.stdout)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            # Live: what is recorded so far is printed while the run waits on its hook.
            wait_for(lambda: any(e["eventType"] == "hook_created" for e in lines))
            assert tail.poll() is None
            remote.resume_hook("tail-tok", {"ok": True})
            assert tail.wait(30) == 0, tail.stderr.read() if tail.stderr else ""
        finally:
            tail.kill()
            reader.join(10)
    recorded = remote.run_events(run["id"])["data"]
    assert [e["id"] for e in lines] == [e["id"] for e in recorded]  # each once, in order
    assert lines[-1]["eventType"] == "run_completed"


class _LateCommit:
    """Events as a PostgreSQL reader can see them: position 2 commits after 3."""

    def __init__(self, ending: str = "run_completed") -> None:
        self.calls, self.ending = 0, ending

    def run_events(self, run_id: str, cursor: int = 0, limit: int = 1000) -> Any:
        self.calls += 1
        visible = [1, 3] if self.calls == 1 else [1, 2, 3, 4]
        data = [{"id": f"evnt_{p}", "position": p, "runId": run_id,
                 "eventType": self.ending if p == 4 else "step_completed",
                 "correlationId": None, "payload": None, "createdAt": "t"}
                for p in visible if p > cursor]
        return {"data": data, "cursor": None, "hasMore": False}


def test_an_event_that_commits_late_is_printed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    target = _LateCommit()
    monkeypatch.setattr(runs_cli, "_target", lambda *_: target)
    monkeypatch.setattr(runs_cli, "TAIL_POLL_SECONDS", 0.01)
    monkeypatch.setattr(runs_cli, "TAIL_SETTLE_SECONDS", 0.1)
    result = CliRunner().invoke(runs_cli.command, ["tail", "wrun_x", "--json"])
    assert result.exit_code == 0, result.output
    positions = [json.loads(line)["position"] for line in result.output.splitlines()]
    assert positions == [1, 3, 2, 4]


def test_tail_of_a_failed_run_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_cli, "_target", lambda *_: _LateCommit("run_failed"))
    monkeypatch.setattr(runs_cli, "TAIL_POLL_SECONDS", 0.01)
    monkeypatch.setattr(runs_cli, "TAIL_SETTLE_SECONDS", 0.05)
    result = CliRunner().invoke(runs_cli.command, ["tail", "wrun_x"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].split()[1] == "run_failed"

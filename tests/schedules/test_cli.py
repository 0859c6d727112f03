"""``workflow-studio schedules ...`` against a real worker: every subcommand, in words and
with ``--json``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ADMIN_KEY
from workflow_studio.cli import cli

pytestmark = pytest.mark.e2e


def test_the_schedules_commands(worker: Any) -> None:
    runner = CliRunner()
    remote = ["--url", worker.url, "--api-key", ADMIN_KEY]

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["schedules", *args, *remote], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    shown = run("create", "nightly-report", "--workflow", "report", "--cron", "0 3 * * *",
                "--timezone", "Europe/Berlin", "--kwargs", '{"kind": "nightly"}')
    assert "At 03:00 every day (Europe/Berlin)" in shown
    listed = run("list")
    assert "nightly-report" in listed and "At 03:00 every day" in listed
    page = json.loads(run("list", "--json"))
    assert [s["name"] for s in page["data"]] == ["nightly-report"]
    preview = run("preview", "nightly-report", "--count", "2")
    assert "+01:00" in preview or "+02:00" in preview
    assert "paused" in run("pause", "nightly-report", "--note", "db upgrade")
    assert "paused (db upgrade)" in run("show", "nightly-report")
    assert "resumed nightly-report" in run("resume", "nightly-report")
    # no deployment is active: the trigger is recorded as refused, not an error
    assert json.loads(run("trigger", "nightly-report", "--json"))["outcome"] == "start_failed"
    dry = json.loads(run("backfill", "nightly-report", "--from", "2024-06-01T00:00:00Z",
                         "--to", "2024-06-03T00:00:00Z", "--dry-run", "--json"))
    assert [t["outcome"] for t in dry["ticks"]] == ["would_fire", "would_fire"]
    assert "deleted nightly-report" in run("delete", "nightly-report")

    bad = runner.invoke(cli, ["schedules", "create", "broken", "--workflow", "report",
                              "--cron", "0 61 * * *", *remote])
    assert bad.exit_code != 0  # main() prints it as the runbook does; here, the error:
    assert "cron[0]: field 2 (hour) '61' at character 3" in str(bad.exception)

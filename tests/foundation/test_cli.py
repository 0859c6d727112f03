"""The CLI as a new user meets it: help everywhere, one-line errors, keys and audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest

from tests.conftest import ADMIN_KEY
from workflow_studio.cli import cli

CLI = [sys.executable, "-m", "workflow_studio.cli"]


def run(*args: str, cwd=None, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update(env_extra or {})
    return subprocess.run(CLI + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def command_paths(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_every_command_explains_itself():
    from click.testing import CliRunner
    runner = CliRunner()
    paths = list(command_paths(cli))
    assert ("worker", "start") in paths and ("keys", "create") in paths
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage: " in result.output
        help_text = result.output.split("Options:")[0]
        assert len(help_text.split("\n\n", 1)[-1].strip()) > 10, f"{path} has no description"


def test_wrong_flag_is_one_line_and_exit_2(tmp_path):
    result = run("keys", "list", "--bogus", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "No such option '--bogus'" in result.stderr
    assert "workflow-studio keys list --help" in result.stderr


def test_missing_required_choice_is_one_line(tmp_path):
    result = run("keys", "create", "--name", "x", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_remote_without_key_is_a_usage_error(tmp_path):
    result = run("keys", "list", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 2
    assert "--api-key" in result.stderr


def test_local_key_lifecycle(tmp_path):
    created = run("keys", "create", "--name", "ops", "--scope", "runs:read", "--scope",
                  "deploy:read", "--json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert record["secret"].startswith("wsk_") and record["scopes"] == ["runs:read",
                                                                         "deploy:read"]
    listed = run("keys", "list", cwd=tmp_path)
    assert "ops" in listed.stdout and record["secret"] not in listed.stdout
    assert run("keys", "revoke", record["id"], cwd=tmp_path).returncode == 0
    listed = json.loads(run("keys", "list", "--json", cwd=tmp_path).stdout)
    assert listed[0]["revokedAt"]
    missing = run("keys", "revoke", "key_missing", cwd=tmp_path)
    assert missing.returncode == 1 and "no API key" in missing.stderr


@pytest.mark.e2e
@pytest.mark.both_backends
def test_remote_keys_and_audit(worker, tmp_path):
    env = {"WORKFLOW_COMPUTE_BASE_URL": worker.url, "WORKFLOW_COMPUTE_API_KEY": ADMIN_KEY}
    created = run("keys", "create", "--name", "remote", "--scope", "admin", "--json",
                  cwd=tmp_path, env_extra=env)
    assert created.returncode == 0, created.stderr
    audit = run("audit", "--json", cwd=tmp_path, env_extra=env)
    rows = json.loads(audit.stdout)
    post = next(r for r in rows if r["method"] == "POST" and r["path"] == "/v1/keys")
    by_corr = json.loads(run("audit", "--correlation-id", post["correlationId"], "--json",
                             cwd=tmp_path, env_extra=env).stdout)
    assert [r["path"] for r in by_corr] == ["/v1/keys"]


@pytest.mark.e2e
@pytest.mark.both_backends
def test_remote_errors_print_the_runbook_action(worker, tmp_path):
    result = run("keys", "list", "--url", worker.url, "--api-key", "wsk_wrong_key_123456",
                 cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "workflow-studio: error: 401 unauthorized: Invalid or revoked API key."
    assert lines[1] == ("  action: Verify the bearer key and compare it with the worker's "
                        "seeded keys.")
    assert lines[2].startswith("  correlation id: ")


def test_unreachable_worker_is_one_clear_error(tmp_path):
    result = run("keys", "list", "--url", "http://127.0.0.1:9", "--api-key", ADMIN_KEY,
                 cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach the worker at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr

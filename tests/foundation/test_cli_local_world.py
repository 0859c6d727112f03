"""``workflow-studio runs ...`` sees the local world (issue 14, "Debuggability"): the runs an
app's embedded world keeps in ``./.workflow-studio/local.db``, with ``--local`` or on its own
when that is the only database here; and a command with nothing to read says so instead of
creating an empty database.

Found as an app developer would: the app runs in its own process (its executor alive), and
the CLI, another process, lists, shows, resumes, tails and cancels its runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "workflow_studio.cli"]

APP = """
import json

import workflow_studio as ws


@ws.step
def add(a, b):
    return a + b


@ws.workflow
def approval(token):
    total = add(20, 22)
    return {"total": total, "payload": ws.create_hook(token=token).wait()}


@ws.workflow
def napping():
    ws.sleep("1h")


def parked(run, kind):
    while (run.info()["waitingOn"] or {}).get("type") != kind:
        assert run.wait(0.05) == "running", run.info()


approving, nap = ws.start(approval, "cli-tok"), ws.start(napping)
parked(approving, "hook")
parked(nap, "sleep")
print(approving.id, nap.id, flush=True)
print(json.dumps(approving.result(timeout=60)), flush=True)
print(nap.wait(timeout=60), flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    return {**env, **extra}


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The app, in its own process, on the local world's default database."""
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(APP)], cwd=tmp_path,
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_with_nothing_here_runs_commands_say_so_and_create_nothing(tmp_path: Path) -> None:
    for args in (["runs", "list"], ["runs", "show", "wrun_x"], ["runs", "tail", "wrun_x"],
                 ["runs", "cancel", "wrun_x"], ["runs", "resume", "tok"]):
        done = cli(tmp_path, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert "no runs here" in done.stderr and "local.db" in done.stderr, args
        assert "Traceback" not in done.stderr
    local = cli(tmp_path, "runs", "list", "--local")
    assert local.returncode == 1 and "no local world database at" in local.stderr
    started = cli(tmp_path, "runs", "start", "total")
    assert started.returncode == 1 and "no_active_deployment" in started.stderr
    assert not (tmp_path / ".workflow-studio").exists()


def test_the_cli_follows_an_apps_local_world(tmp_path: Path,
                                             app: subprocess.Popen[str]) -> None:
    assert app.stdout is not None
    approving, nap = app.stdout.readline().split()

    listed = cli(tmp_path, "runs", "list")  # only the local world is here: it is used
    assert listed.returncode == 0, listed.stderr
    assert approving in listed.stdout and nap in listed.stdout and "approval" in listed.stdout
    page = json.loads(cli(tmp_path, "runs", "list", "--local", "--json", "--workflow",
                          "napping").stdout)
    assert [(r["id"], r["status"]) for r in page["data"]] == [(nap, "running")]

    shown = cli(tmp_path, "runs", "show", approving, "--steps", "--local")
    assert shown.returncode == 0, shown.stderr
    assert '"type": "hook"' in shown.stdout and "add" in shown.stdout

    unknown = cli(tmp_path, "runs", "resume", "no-such-token")
    assert unknown.returncode == 1 and "no live hook has token 'no-such-token'" in unknown.stderr
    resumed = cli(tmp_path, "runs", "resume", "cli-tok", "--payload", '{"ok": true}')
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"Resumed run {approving}")
    assert json.loads(app.stdout.readline()) == {"total": 42, "payload": {"ok": True}}

    tailed = cli(tmp_path, "runs", "tail", approving, "--local")
    assert tailed.returncode == 0, tailed.stderr
    assert [line.split()[1] for line in tailed.stdout.splitlines()][-1] == "run_completed"

    cancelled = cli(tmp_path, "runs", "cancel", nap, "--local")
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"Cancelled {nap}."
    assert app.stdout.readline().strip() == "cancelled"
    assert app.wait(30) == 0
    assert json.loads(cli(tmp_path, "runs", "show", nap, "--json").stdout)["status"] == (
        "cancelled")
    assert not (tmp_path / ".workflow-studio" / "worker.db").exists()


FINISHED_APP = """
import workflow_studio as ws


@ws.workflow
def hello():
    return "hello"


print(ws.start(hello).result(timeout=20))
"""


def test_local_finds_the_database_where_workflow_local_db_puts_it(tmp_path: Path) -> None:
    where = str(tmp_path / "data" / "app.db")
    (tmp_path / "data").mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FINISHED_APP)], cwd=tmp_path,
                          env=_env(WORKFLOW_LOCAL_DB=where), capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "hello", done.stderr
    listed = cli(tmp_path, "runs", "list", "--local", "--json", WORKFLOW_LOCAL_DB=where)
    assert [r["workflowName"] for r in json.loads(listed.stdout)["data"]] == ["hello"]
    assert cli(tmp_path, "runs", "list").returncode == 1  # not at the default place


def test_beside_a_worker_database_local_is_explicit(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FINISHED_APP)], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "hello", done.stderr
    migrated = cli(tmp_path, "worker", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    worker = cli(tmp_path, "runs", "list", "--json")  # the worker's database, as before
    assert worker.returncode == 0 and json.loads(worker.stdout)["data"] == []
    assert "add --local for the local world" in worker.stderr
    local = cli(tmp_path, "runs", "list", "--local", "--json")
    assert [r["workflowName"] for r in json.loads(local.stdout)["data"]] == ["hello"]
    assert local.stderr == ""
    both = cli(tmp_path, "runs", "list", "--local", "--url", "http://127.0.0.1:9")
    assert both.returncode == 2 and "--local and --url exclude each other" in both.stderr
    started = cli(tmp_path, "runs", "start", "hello")  # starts go to the worker's database
    assert started.returncode == 1 and "no_active_deployment" in started.stderr

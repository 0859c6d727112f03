"""Startup: the strict remote guard, migrations run by many processes, worker start, SIGTERM."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from workflow_studio.config.settings import ConfigError, load_settings
from workflow_studio.storage import Database
from workflow_studio.storage import migrations as migrations_module

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "workflow_studio.cli"]
GUARD_LINE = ("Strict remote guard: WORKFLOW_TARGET_WORLD is not set but this production "
              "worker expects 'workflow-studio/world-remote'; "
              "set WORKFLOW_TARGET_WORLD=workflow-studio/world-remote")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError("worker did not become healthy")


def test_strict_guard_stops_the_cli_with_one_line(tmp_path):
    result = subprocess.run([*CLI, "worker", "start", "--port", "0"], cwd=tmp_path,
                            env=clean_env(WORKFLOW_ENV="production"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"workflow-studio: error: {GUARD_LINE}\n"
    assert not (tmp_path / ".workflow-studio").exists(), "nothing is created before the check"


def test_strict_guard_names_a_wrong_value():
    with pytest.raises(ConfigError, match="is 'local' but"):
        from workflow_studio.worker.guard import check_target_world
        check_target_world(load_settings(environ={}),
                           {"WORKFLOW_ENV": "production", "WORKFLOW_TARGET_WORLD": "local"})


def test_strict_guard_stops_plain_gunicorn_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:workflow_studio.worker.gunicorn_conf",
         "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        cwd=tmp_path, env=clean_env(WORKFLOW_ENV="production"), capture_output=True, text=True,
        timeout=60)
    assert result.returncode != 0
    assert GUARD_LINE in result.stdout + result.stderr


def test_worker_start_serves_with_the_guard_satisfied_and_stops_on_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "worker", "start", "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path,
        env=clean_env(WORKFLOW_ENV="production",
                      WORKFLOW_TARGET_WORLD="workflow-studio/world-remote"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/v1/health", proc)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Created the first admin API key" in output
    secret = next(line.strip() for line in output.splitlines()
                  if line.strip().startswith("wsk_"))
    assert "Shutting down: Master" in output
    assert len(secret) > 40


def test_worker_start_uses_the_env_key_and_prints_no_new_one(tmp_path):
    key = "env-key-0123456789abcdef"
    port = free_port()
    proc = subprocess.Popen([*CLI, "worker", "start", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=tmp_path, env=clean_env(WORKFLOW_COMPUTE_API_KEY=key),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/v1/health", proc)
        listed = requests.get(f"http://127.0.0.1:{port}/v1/keys", timeout=5,
                              headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
        assert [k["name"] for k in listed.json()["data"]] == ["WORKFLOW_COMPUTE_API_KEY"]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=40)
    assert "Created the first admin API key" not in output


def test_bad_config_stops_worker_start_with_one_line(tmp_path):
    (tmp_path / "workflow_config.py").write_text(
        "from workflow_studio import define_config\n"
        "config = define_config(worker={'security': {'require_https': 'yes'}})\n")
    result = subprocess.run([*CLI, "worker", "start"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("workflow-studio: error: workflow_config.py: "
                             "worker.security.require_https: expected bool, got str\n")


def _migrate(target: str, dialect: str, schema: str, barrier) -> None:
    barrier.wait()
    database = Database(target, dialect=dialect, schema=schema)
    database.connection()
    database.close()


@pytest.mark.both_backends
def test_migrations_run_once_when_many_processes_start_together(tmp_path, backend_options):
    if backend_options:
        target, dialect = backend_options["postgres_url"], "postgres"
        schema = backend_options["postgres_schema"]
    else:
        target, dialect, schema = str(tmp_path / "race.db"), "sqlite", ""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(6)
    procs = [context.Process(target=_migrate, args=(target, dialect, schema, barrier))
             for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    database = Database(target, dialect=dialect, schema=schema)
    rows = database.connection().query("SELECT version FROM schema_migrations")
    database.close()
    expected = [n for n, _, _ in migrations_module.available(dialect)]
    assert sorted(r["version"] for r in rows) == expected

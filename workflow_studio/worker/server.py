"""Start a worker under gunicorn from Python and return once it answers (seed 001).

The listening socket is bound here and handed to gunicorn as ``fd://N``: the caller knows the
port before gunicorn starts, and a port of 0 picks a free one without a race.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import requests

from workflow_studio.config.settings import OPTIONS_ENV, SeedKey

GUNICORN_CONF = "python:workflow_studio.worker.gunicorn_conf"
READY_MARKER = "workflow-studio: worker process ready"


def gunicorn_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONF, *extra]


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    if "seed_api_keys" in out:
        out["seed_api_keys"] = [
            {"key": k.key, "scopes": list(k.scopes), "name": k.name,
             "rate_limit_per_minute": k.rate_limit_per_minute} if isinstance(k, SeedKey) else k
            for k in out["seed_api_keys"]
        ]
    hook = out.get("on_webhook")
    if callable(hook):
        out["on_webhook"] = f"{hook.__module__}:{hook.__qualname__}"
    return out


class WorkerServer:
    """A running gunicorn master serving the worker."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, port: int, log_path: str):
        self.process, self.url, self.port, self.log_path = process, url, port, log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (graceful), then SIGKILL after ``timeout``; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> WorkerServer:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


def start_compute_worker_server(host: str = "127.0.0.1", port: int = 0, workers: int = 2,
                                config_path: str | None = None,
                                env: dict[str, str] | None = None, log_path: str | None = None,
                                ready_timeout: float = 30, **options: Any) -> WorkerServer:
    """Start gunicorn with these worker options; return when ``/v1/health`` answers."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    child_env = dict(os.environ if env is None else env)
    child_env[OPTIONS_ENV] = json.dumps(_jsonable(options))
    if config_path:
        child_env["WORKFLOW_STUDIO_CONFIG"] = os.path.abspath(config_path)
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="workflow-studio-", suffix=".log")
        os.close(fd)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            gunicorn_command("--bind", f"fd://{sock.fileno()}", "--workers", str(workers)),
            env=child_env, pass_fds=(sock.fileno(),), stdout=log, stderr=subprocess.STDOUT,
        )
    sock.close()
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound_port}"
    server = WorkerServer(process, url, bound_port, log_path)
    _wait_ready(server, ready_timeout, workers)
    return server


def _wait_ready(server: WorkerServer, timeout: float, workers: int) -> None:
    """Until every gunicorn process has booted (its ready line) and health answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"worker exited with status {server.process.returncode}:\n"
                               f"{server.log()[-4000:]}")
        try:
            if (server.log().count(READY_MARKER) >= workers and requests.get(
                    f"{server.url}/v1/health", timeout=1).status_code == 200):
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop(5)
    raise RuntimeError(f"worker did not become ready in {timeout}s:\n{server.log()[-4000:]}")

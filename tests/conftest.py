"""Shared fixtures: a fresh database per test, the Flask test client, a real gunicorn worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from workflow_studio.worker import WorkerServer, create_app, start_compute_worker_server
from workflow_studio.worker.settings import load_settings

ADMIN_KEY = "wsk_test_admin_key_0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's config file or WORKFLOW_* variables."""
    import os
    for name in list(os.environ):
        if (name.startswith("WORKFLOW_") and not name.startswith("WORKFLOW_TEST_")) or (
                name == "PORT"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Any]:
    def make(**options: Any) -> Any:
        options.setdefault("sqlite_path", str(tmp_path / "worker.db"))
        options.setdefault("artifact_dir", str(tmp_path / "artifacts"))
        options.setdefault("seed_api_keys", [{"key": ADMIN_KEY, "scopes": ["admin"]}])
        return load_settings(options=options, environ={})
    return make


@pytest.fixture
def app(make_settings: Callable[..., Any]) -> Any:
    return create_app(make_settings())


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerServer]]:
    """Start real gunicorn workers on free loopback ports; all are stopped after the test."""
    started: list[WorkerServer] = []

    def start(**options: Any) -> WorkerServer:
        options.setdefault("sqlite_path", str(tmp_path / "worker.db"))
        options.setdefault("artifact_dir", str(tmp_path / "artifacts"))
        options.setdefault("seed_api_keys", [{"key": ADMIN_KEY, "scopes": ["admin"]}])
        options.setdefault("log_path", str(tmp_path / f"gunicorn-{len(started)}.log"))
        server = start_compute_worker_server(**options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(10)


@pytest.fixture
def worker(start_worker: Callable[..., WorkerServer]) -> WorkerServer:
    """One real worker with two gunicorn processes and the admin seed key."""
    return start_worker()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()

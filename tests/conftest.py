"""Shared fixtures: a fresh database per test, the Flask test client, a real gunicorn worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from workflow_studio.config.settings import load_settings
from workflow_studio.worker import WorkerServer, create_app, start_compute_worker_server

ADMIN_KEY = "wsk_test_admin_key_0123456789abcdef"
POSTGRES_URL = os.environ.get("WORKFLOW_TEST_POSTGRES_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run the test once on SQLite and once on PostgreSQL")
    config.addinivalue_line(
        "markers", "postgres_only: multi-node behaviour that only PostgreSQL provides")


def _postgres_schema_gap() -> list[int]:
    """SQLite migrations that have no PostgreSQL counterpart yet."""
    from workflow_studio.storage import migrations

    have = {number for number, _, _ in migrations.available("postgres")}
    return [number for number, _, _ in migrations.available("sqlite") if number not in have]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker
        if marked("postgres_only") is not None:
            backends = ["postgres"]
        elif marked("both_backends") is not None:
            backends = ["sqlite", "postgres"]
        else:
            backends = ["sqlite"]
        metafunc.parametrize("backend", backends, indirect=True)



@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend_options(backend: str) -> Iterator[dict[str, Any]]:
    """Storage options for the test's backend; PostgreSQL gets a schema of its own."""
    if backend == "sqlite":
        yield {}
        return
    gap = _postgres_schema_gap()
    if gap:
        pytest.skip(f"PostgreSQL migrations missing for SQLite migrations {gap}")
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("WORKFLOW_TEST_POSTGRES_URL is not set; CI must run PostgreSQL tests")
        pytest.skip("WORKFLOW_TEST_POSTGRES_URL is not set")
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield {"postgres_url": POSTGRES_URL, "postgres_schema": schema}
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def make_database(tmp_path: Path,
                  backend_options: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """A ``storage.Database`` on the test's backend (a SQLite file, or its PostgreSQL schema);
    closed when the test ends (it holds them: the autouse closer only sees live handles)."""
    from workflow_studio.storage import Database

    made: list[Database] = []

    def make(name: str = "world.db") -> Database:
        if backend_options:
            database = Database(backend_options["postgres_url"], dialect="postgres",
                                schema=backend_options["postgres_schema"])
        else:
            database = Database(str(tmp_path / name))
        made.append(database)
        return database

    yield make
    for database in made:
        database.close()


@pytest.fixture(autouse=True)
def _close_databases() -> Iterator[None]:
    """Every database handle a test opened is closed when it ends (no leaked connections)."""
    from workflow_studio.storage import Database

    yield
    for database in list(Database.instances):
        database.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's config file or WORKFLOW_* variables."""
    for name in list(os.environ):
        if (name.startswith("WORKFLOW_") and not name.startswith("WORKFLOW_TEST_")) or (
                name == "PORT"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path, backend_options: dict[str, Any]) -> Callable[..., Any]:
    def make(**options: Any) -> Any:
        options = {**backend_options, **options}
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
def start_worker(tmp_path: Path,
                 backend_options: dict[str, Any]) -> Iterator[Callable[..., WorkerServer]]:
    """Start real gunicorn workers on free loopback ports; all are stopped after the test."""
    started: list[WorkerServer] = []

    def start(**options: Any) -> WorkerServer:
        options = {**backend_options, **options}
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

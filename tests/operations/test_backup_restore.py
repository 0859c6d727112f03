"""backup.sh while the worker runs (and writes), restore.sh into the stopped worker's
directory, and the restarted worker serving the backed-up runs: on SQLite, and on
PostgreSQL in a database of the test's own."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, POSTGRES_URL
from tests.operations.conftest import Result
from workflow_studio.client import ComputeClient
from workflow_studio.worker import WorkerServer

pytestmark = pytest.mark.e2e


def _finished_runs(remote: ComputeClient, count: int) -> dict[str, Any]:
    runs = {}
    for number in range(count):
        run = remote.trigger_run("greet", [f"user-{number}"])
        runs[run["id"]] = remote.get_run(run["id"], wait=20)["output"]
    return runs


def _deploy(runbook: Callable[..., Result], url: str, hello: Path) -> str:
    deployed = runbook("deploy.sh", "--project", str(hello), url=url, key=ADMIN_KEY)
    assert deployed.code == 0, str(deployed)
    return deployed.out.strip()


def _served(remote: ComputeClient, runs: dict[str, Any]) -> None:
    """The restored worker has every backed-up run, and runs new ones."""
    for run_id, output in runs.items():
        run = remote.get_run(run_id)
        assert (run["status"], run["output"]) == ("completed", output)
    fresh = remote.trigger_run("greet", ["after restore"])
    assert remote.get_run(fresh["id"], wait=20)["output"]["loud"] == "HELLO, AFTER RESTORE!"


def test_sqlite_backup_while_writing_then_restore(
        start_worker: Callable[..., WorkerServer], hello: Path, tmp_path: Path,
        runbook: Callable[..., Result]) -> None:
    data = tmp_path / "data"
    storage = {"sqlite_path": str(data / "worker.db"), "artifact_dir": str(data / "artifacts")}
    env = {"WORKFLOW_SQLITE_PATH": storage["sqlite_path"],
           "WORKFLOW_ARTIFACT_DIR": storage["artifact_dir"]}
    worker = start_worker(**storage)
    remote = ComputeClient(worker.url, ADMIN_KEY)
    active = _deploy(runbook, worker.url, hello)
    runs = _finished_runs(remote, 3)

    # Online: runs keep being written while the snapshot is taken.
    stop, during = threading.Event(), []

    def write() -> None:
        while not stop.is_set():
            during.append(remote.trigger_run("greet", ["during"])["id"])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        made = runbook("backup.sh", "--output", str(tmp_path / "backups"), "--keep", "1",
                       env=env)
    finally:
        stop.set()
        writer.join()
    assert made.code == 0, str(made)
    backup = Path(made.out.strip())
    record = json.loads((backup / "backup.json").read_text())
    assert (record["dialect"], record["active_deployment"]) == ("sqlite", active)
    assert record["runs"] >= len(runs) and during
    assert (backup / "artifacts" / active / "manifest.json").is_file()
    assert backup.stat().st_mode & 0o077 == 0
    assert [p.name for p in backup.parent.iterdir()] == [backup.name]

    refused = runbook("restore.sh", str(backup), env=env)
    assert refused.code == 3 and "stop the worker first" in refused.err, str(refused)
    after = remote.trigger_run("greet", ["after the backup"])["id"]
    assert worker.stop(20) == 0

    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    with (damaged / "worker.db").open("r+b") as db:
        db.seek(5000)
        db.write(b"\xff" * 16)
    bad = runbook("restore.sh", str(damaged), env=env)
    assert bad.code == 1 and "sha256" in bad.err, str(bad)

    restored = runbook("restore.sh", str(backup), env=env)
    assert restored.code == 0, str(restored)
    aside = next(data.glob("pre-restore-*"))
    assert (aside / "worker.db").is_file() and (aside / "artifacts" / active).is_dir()

    again = start_worker(**storage)
    remote = ComputeClient(again.url, ADMIN_KEY)
    assert remote.get_active_deployment()["id"] == active
    _served(remote, runs)
    known = {r["id"] for r in remote.list_runs(limit=1000)["data"]}
    assert after not in known and set(runs) <= known


@pytest.fixture
def own_database(backend_options: dict[str, Any]) -> Iterator[str]:
    """A PostgreSQL database of this test alone (restore.sh refuses while any worker
    session is connected to the database, whichever schema it uses). ``backend_options``
    skips the test (or fails it, under CI) without PostgreSQL."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"ops_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(POSTGRES_URL)
    yield make_conninfo(**{**params, "dbname": name})
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.mark.postgres_only
def test_postgres_backup_then_restore(own_database: str,
                                      start_worker: Callable[..., WorkerServer], hello: Path,
                                      tmp_path: Path, runbook: Callable[..., Result],
                                      tool: Callable[[str], str]) -> None:
    # (own_database before start_worker: the workers stop before the database is dropped)
    tool("pg_dump")
    storage = {"postgres_url": own_database, "postgres_schema": "ops_studio"}
    env = {"WORKFLOW_POSTGRES_URL": own_database, "WORKFLOW_POSTGRES_SCHEMA": "ops_studio"}
    worker = start_worker(**storage, artifact_dir=str(tmp_path / "node-1"), workers=1)
    remote = ComputeClient(worker.url, ADMIN_KEY)
    active = _deploy(runbook, worker.url, hello)
    runs = _finished_runs(remote, 2)

    made = runbook("backup.sh", "--output", str(tmp_path / "backups"), env=env)
    assert made.code == 0, str(made)
    backup = Path(made.out.strip())
    assert json.loads((backup / "backup.json").read_text())["dialect"] == "postgres"
    assert (backup / "postgres.dump").stat().st_size > 0

    refused = runbook("restore.sh", str(backup), env=env)
    assert refused.code == 3 and "sessions are connected" in refused.err, str(refused)
    after = remote.trigger_run("greet", ["after the backup"])["id"]
    assert worker.stop(20) == 0

    restored = runbook("restore.sh", str(backup), env=env)
    assert restored.code == 0 and "ops_studio_pre_restore_" in restored.err, str(restored)

    # A node that never saw the deployment fetches it from the restored database.
    again = start_worker(**storage, artifact_dir=str(tmp_path / "node-2"), workers=1)
    remote = ComputeClient(again.url, ADMIN_KEY)
    assert remote.get_active_deployment()["id"] == active
    _served(remote, runs)
    assert after not in {r["id"] for r in remote.list_runs(limit=1000)["data"]}

"""Deployment environments on the real worker (gunicorn, both databases): two versions of one
dependency side by side in one process pool, and named secrets from the API to a step and
nowhere else."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tests.conftest import ADMIN_KEY, POSTGRES_URL
from tests.environments.helpers import files_containing
from workflow_studio.builder.project import BuildResult
from workflow_studio.cli import cli
from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Recorder:
    """Every API answer the test saw, to be searched for a plaintext afterwards."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.bodies: list[bytes] = []
        self.session.hooks["response"].append(lambda r, *_, **__: self.bodies.append(
            r.content))

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", AUTH)
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, url, **kwargs)

    def run(self, base: str, workflow: str, deployment: str | None = None) -> dict[str, Any]:
        """Start a run through the queue (any process's executor may claim it) and wait
        for it to end."""
        body: dict[str, Any] = {"workflowName": workflow}
        if deployment:
            body["deploymentId"] = deployment
        answer = self.call("POST", f"{base}/v1/runs", json=body,
                           headers={**AUTH, "Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 202, answer.text
        run: dict[str, Any] = answer.json()
        deadline = time.monotonic() + 60
        while run["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, run
            run = self.call("GET", f"{base}/v1/runs/{run['id']}", params={"wait": 10}).json()
        return run


def _deploy(client: ComputeClient, build: BuildResult) -> str:
    return str(client.create_deployment(build.manifest_path, build.artifact_path)["id"])


def _cli(args: list[str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, input=input)


def test_two_versions_of_one_dependency_run_side_by_side(
        start_worker: Callable[..., Any], env_builds: dict[str, BuildResult]) -> None:
    worker = start_worker(workers=2)
    client = ComputeClient(worker.url, ADMIN_KEY)
    api = Recorder()
    for name in ("STRIPE_KEY", "DB_URL"):
        assert api.call("PUT", f"{worker.url}/v1/secrets/{name}",
                        json={"value": f"value-of-{name}"}).status_code == 201
    ids = {version: _deploy(client, build) for version, build in env_builds.items()}
    client.activate_deployment(ids["2.0"])
    client.activate_deployment(ids["1.0"])  # 2.0 stays runnable: it was proven to import

    shown = _cli(["deployments", "show", ids["2.0"], "--url", worker.url,
                  "--api-key", ADMIN_KEY])
    assert shown.exit_code == 0, shown.output
    assert "packages:     tinydep 2.0" in shown.output
    assert "secrets:      STRIPE_KEY, DB_URL (as env)" in shown.output

    pids: dict[str, set[int]] = {"1.0": set(), "2.0": set()}
    outputs: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def run(version: str) -> None:
        output = api.run(worker.url, "main", ids[version])["output"]
        with lock:
            outputs.append((version, output))

    for _ in range(6):  # until one process has run both (two processes: at once, mostly)
        outputs.clear()
        threads = [threading.Thread(target=run, args=(v,)) for v in ("1.0", "2.0") * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(outputs) == 8
        for version, output in outputs:
            assert output["version"] == version
            assert output["greeting"] == f"tinydep {version} greets you"
            pids[version].add(output["pid"])
        if pids["1.0"] & pids["2.0"]:
            break
    assert pids["1.0"] & pids["2.0"], pids  # one process ran both versions


def _database_dump(backend_options: dict[str, Any], tmp_path: Path) -> bytes:
    """Every byte the worker's database holds: the SQLite files, or every row of every
    table of the PostgreSQL schema."""
    if not backend_options:
        return b"".join(p.read_bytes() for p in tmp_path.glob("worker.db*"))
    import psycopg
    from psycopg import sql

    schema = backend_options["postgres_schema"]
    out = []
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert "secrets" in tables
        for table in tables:
            for row in conn.execute(sql.SQL("SELECT * FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table))):
                out.append(repr(row).encode())
                out.extend(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    return b"\n".join(out)


def test_secrets_from_the_api_to_a_step_and_nowhere_else(
        start_worker: Callable[..., Any], env_builds: dict[str, BuildResult],
        backend_options: dict[str, Any], tmp_path: Path) -> None:
    worker = start_worker(workers=2, executor_slots=1)
    client = ComputeClient(worker.url, ADMIN_KEY)
    api = Recorder()
    first, rotated = f"sk_live_{uuid.uuid4().hex}", f"sk_live_{uuid.uuid4().hex}"
    database_url = f"postgres://app:{uuid.uuid4().hex}@db/app"
    plaintexts = [first, rotated, database_url]
    deployment = _deploy(client, env_builds["1.0"])

    # Activation refuses a deployment whose secrets are not set, naming them.
    refused = api.call("POST", f"{worker.url}/v1/deployments/{deployment}/activate")
    assert refused.status_code == 400
    assert refused.json()["code"] == "activation_failed"
    assert refused.json()["missingSecrets"] == ["DB_URL", "STRIPE_KEY"]
    assert "workflow-studio secrets set STRIPE_KEY" in refused.json()["message"]
    with pytest.raises(ComputeClientError) as failed:
        client.activate_deployment(deployment)
    assert "workflow-studio secrets set NAME" in (failed.value.action or "")
    assert api.call("GET", f"{worker.url}/v1/deployments/active").status_code == 409

    # One over the API, one with the CLI (stdin); then it activates.
    created = api.call("PUT", f"{worker.url}/v1/secrets/STRIPE_KEY", json={"value": first})
    assert created.status_code == 201 and created.json()["version"] == 1
    cli_set = _cli(["secrets", "set", "DB_URL", "--url", worker.url, "--api-key", ADMIN_KEY],
                   input=database_url + "\n")
    assert cli_set.exit_code == 0, cli_set.output
    assert cli_set.output == "Set secret DB_URL (version 1).\n"
    client.activate_deployment(deployment)

    # A step reads it (and DB_URL as an environment variable of its own thread).
    run = api.run(worker.url, "uses_secret")
    assert run["status"] == "completed", run
    assert run["output"]["sha256"] == sha(first)
    assert run["output"]["env"] == sha(database_url)
    # A step error that quotes it is recorded redacted; an undeclared one is refused; and
    # workflow code cannot read one at all.
    leaked = api.run(worker.url, "leaks")
    assert leaked["status"] == "failed"
    assert "the key is [redacted]" in str(leaked["error"])
    undeclared = api.run(worker.url, "undeclared")
    assert undeclared["status"] == "failed"
    assert "SecretNotDeclaredError" in str(undeclared["error"])
    assert "'NOT_DECLARED' is not declared" in str(undeclared["error"])
    greedy = api.run(worker.url, "greedy")
    assert greedy["status"] == "failed"
    assert "cannot be called in workflow code" in str(greedy["error"])

    # Rotation: set it again on one node; every process of every node (a second node shares
    # the database, and the queue: any process may run any run) reads the new value in the
    # next step it starts, with no delay at all. One executor slot per process and steps
    # that hold it a while: concurrent runs must spread over the three processes. On
    # PostgreSQL the second node has an artifact_dir of its own: it fetches the deployment,
    # dependencies included, from the database and verifies it.
    second_node = start_worker(workers=1, executor_slots=1, **(
        {"artifact_dir": str(tmp_path / "artifacts-node2")} if backend_options else {}))
    before = {api.run(node, "uses_secret")["output"]["sha256"]
              for node in (worker.url, second_node.url)}
    assert before == {sha(first)}
    rotated_answer = api.call("PUT", f"{second_node.url}/v1/secrets/STRIPE_KEY",
                              json={"value": rotated})
    assert rotated_answer.status_code == 200 and rotated_answer.json()["version"] == 2
    pids: set[int] = set()
    outputs: list[dict[str, Any]] = []

    def run_slowly(node: str) -> None:
        outputs.append(api.run(node, "uses_secret_slowly")["output"])

    for _ in range(5):  # until each of the three processes ran some
        threads = [threading.Thread(target=run_slowly, args=(node,))
                   for node in (worker.url, second_node.url) * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(outputs) == len(threads)
        assert {o["sha256"] for o in outputs} == {sha(rotated)}
        pids |= {o["pid"] for o in outputs}
        outputs.clear()
        if len(pids) == 3:
            break
    assert len(pids) == 3, pids

    # The active deployment declares it: deleting it is refused, unless forced.
    in_use = api.call("DELETE", f"{worker.url}/v1/secrets/STRIPE_KEY")
    assert (in_use.status_code, in_use.json()["code"]) == (409, "secret_in_use")
    cli_delete = _cli(["secrets", "delete", "STRIPE_KEY", "--url", worker.url,
                       "--api-key", ADMIN_KEY])
    assert isinstance(cli_delete.exception, ComputeClientError)
    assert cli_delete.exception.code == "secret_in_use"
    assert "--force" in (cli_delete.exception.action or "")

    # Listing shows names and who set them when, never a value.
    listed = api.call("GET", f"{worker.url}/v1/secrets").json()["data"]
    assert [(s["name"], s["version"], s["declaredByActive"], s["readable"]) for s in listed] \
        == [("DB_URL", 1, True, True), ("STRIPE_KEY", 2, True, True)]
    cli_list = _cli(["secrets", "list", "--url", worker.url, "--api-key", ADMIN_KEY])
    assert "STRIPE_KEY" in cli_list.output and "DB_URL" in cli_list.output
    audit = api.call("GET", f"{worker.url}/v1/audit", params={"limit": 1000}).json()["data"]
    paths = [row["path"] for row in audit if row["route"].startswith("/v1/secrets")]
    # set, rotated, and refused twice (API and CLI): names in the path, nothing else
    assert paths.count("/v1/secrets/STRIPE_KEY") == 4
    forced = api.call("DELETE", f"{worker.url}/v1/secrets/STRIPE_KEY",
                      params={"force": "true"})
    assert forced.status_code == 200
    assert api.run(worker.url, "uses_secret")["status"] == "failed"  # its steps now fail

    # Nowhere else: API answers, CLI output, worker logs, the database, the artifacts.
    worker.stop(10)
    second_node.stop(10)
    outputs = (cli_set.output + cli_delete.output + cli_list.output).encode()
    logs = list(tmp_path.glob("gunicorn-*.log"))
    assert len(logs) == 2 and all(log.stat().st_size > 0 for log in logs)
    dump = _database_dump(backend_options, tmp_path)
    assert b"STRIPE_KEY" in dump  # the scan sees the rows (names are stored, in clear)
    for plaintext in plaintexts:
        needle = plaintext.encode()
        assert not [b for b in api.bodies if needle in b]
        assert needle not in outputs
        assert not [log for log in logs if needle in log.read_bytes()]
        assert needle not in dump
        assert not [f for folder in tmp_path.glob("artifacts*")
                    for f in files_containing(folder, needle)]
    if backend_options:
        assert list((tmp_path / "artifacts-node2").glob("dpl_*/deps/tinydep/impl.py"))

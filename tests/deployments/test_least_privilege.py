"""A ``deploy:write`` key runs code on the worker; it must not be a credential-theft key.

Each test is the attack itself: a real worker (gunicorn, both backends) started the way an
operator starts one, with its secrets in the environment; a deploy-key holder uploads a real
artifact whose code goes looking for them, at import (the activation check, in a child
process) and in a step (in the worker process); what comes back to the API caller must hold
none of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.conftest import ADMIN_KEY, POSTGRES_URL
from tests.deployments.helpers import manifest_for, member, tar_bytes, write_project
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError
from workflow_studio.config.environment import ESSENTIALS, MAX_ERROR_CHARS, is_essential
from workflow_studio.worker import WorkerServer, start_compute_worker_server
from workflow_studio.worker.server import READY_MARKER

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]

SECRET_NAMES = ("WORKFLOW_COMPUTE_API_KEY", "WORKFLOW_SECRET_KEY",
                "WORKFLOW_WEBHOOK_SECRET_GITHUB", "WORKFLOW_POSTGRES_URL", "PGPASSWORD",
                "WORKFLOW_STUDIO_OPTIONS")
ALLOWED = "WS_TEST_ALLOWED"        # named in worker.execution.env_passthrough
NOT_ALLOWED = "WS_TEST_NOT_ALLOWED"  # neither secret nor allowlisted: stripped too


class Secrets:
    """The worker's secrets for one test, each a fresh random value."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres  # the URL (with its password) is a secret only there
        self.seed = "wsk_envseed_" + secrets.token_hex(12)
        self.secret_key = "server-secret-" + secrets.token_hex(12)
        self.webhook = "whsec_" + secrets.token_hex(12)
        self.pg_password = "pgpw-" + secrets.token_hex(12)
        self.libpq_password = "libpq-" + secrets.token_hex(12)

    def values(self) -> dict[str, str]:
        values = {"seed key": self.seed, "secret key": self.secret_key,
                  "webhook secret": self.webhook, "PGPASSWORD": self.libpq_password,
                  "options' admin key": ADMIN_KEY}
        if self.postgres:
            values["postgres password"] = self.pg_password
        return values

    def found_in(self, text: str) -> list[str]:
        return [what for what, value in self.values().items() if value in text]


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}"
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def keys(backend_options: dict[str, Any]) -> Secrets:
    return Secrets(postgres=bool(backend_options))


@pytest.fixture
def operator_worker(tmp_path: Path, backend_options: dict[str, Any],
                    keys: Secrets) -> Iterator[Callable[..., WorkerServer]]:
    """Start a worker as an operator would: every secret in the environment (the database
    URL too, with its password), the allowlist in WORKFLOW_ENV_PASSTHROUGH."""
    started: list[WorkerServer] = []

    def start(**extra_env: str) -> WorkerServer:
        env = dict(os.environ)
        env.update({
            "WORKFLOW_COMPUTE_API_KEY": keys.seed, "WORKFLOW_SECRET_KEY": keys.secret_key,
            "WORKFLOW_WEBHOOK_SECRET_GITHUB": keys.webhook, "PGPASSWORD": keys.libpq_password,
            "WORKFLOW_ENV_PASSTHROUGH": ALLOWED, ALLOWED: "visible-to-user-code",
            NOT_ALLOWED: "not-for-user-code", **extra_env})
        options: dict[str, Any] = {}
        if backend_options:  # the URL comes from the environment, password included
            env["WORKFLOW_POSTGRES_URL"] = _with_password(POSTGRES_URL, keys.pg_password)
            options["postgres_schema"] = backend_options["postgres_schema"]
        server = start_compute_worker_server(
            env=env, sqlite_path=str(tmp_path / "worker.db"),
            artifact_dir=str(tmp_path / "artifacts"),
            seed_api_keys=[{"key": ADMIN_KEY, "scopes": ["admin"], "name": "options"}],
            log_path=str(tmp_path / f"gunicorn-{len(started)}.log"), **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(10)


def _deployer(server: WorkerServer) -> ComputeClient:
    """A client holding only deploy:write and deploy:read (what the attacker has)."""
    created = ComputeClient(server.url, ADMIN_KEY).create_key(
        "deployer", ["deploy:write", "deploy:read"])
    return ComputeClient(server.url, created["secret"])


def _artifact(source: str, package: str = "evil_app") -> tuple[bytes, bytes]:
    data = textwrap.dedent(source).encode()
    artifact = tar_bytes([member(f"{package}/__init__.py", data)])
    return manifest_for(artifact, {f"{package}/__init__.py": data}, modules=[package]), artifact


def _activation_error(deployer: ComputeClient, source: str) -> str:
    deployment = deployer.create_deployment(*_artifact(source))
    with pytest.raises(ComputeClientError) as failed:
        deployer.activate_deployment(deployment["id"])
    assert (failed.value.status, failed.value.code) == (400, "activation_failed")
    return failed.value.message


LOOK_AROUND = """
    import json, os

    NAMES = __NAMES__

    def proc_environ(pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def parent_of(pid):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    worker = os.getppid()           # the gunicorn worker process that runs activation
    master = parent_of(worker)      # and its gunicorn master
    blocks = {"self": proc_environ("self"), "worker": proc_environ(worker),
              "master": proc_environ(master)}
    found = {
        "names": {name: os.environ.get(name) for name in NAMES},
        "keys": sorted(os.environ),
        "allowed": os.environ.get(__ALLOWED__),
        "in_proc": {where: [n for n in NAMES if n + "=" in text]
                    for where, text in blocks.items()},
        "readable": {where: bool(text) for where, text in blocks.items()},
    }
    raise RuntimeError(json.dumps(found))
""".replace("__NAMES__", repr(SECRET_NAMES)).replace("__ALLOWED__", repr(ALLOWED))


def test_activation_child_sees_no_worker_secret(operator_worker: Callable[..., WorkerServer],
                                                keys: Secrets) -> None:
    server = operator_worker()
    message = _activation_error(_deployer(server), LOOK_AROUND)
    assert keys.found_in(message) == []
    assert len(message) <= MAX_ERROR_CHARS
    found = json.loads(message[message.index("{"):])
    assert found["names"] == dict.fromkeys(SECRET_NAMES)
    # The child's whole environment: the essentials and the allowlist, nothing else.
    assert [k for k in found["keys"] if not is_essential(k) and k != ALLOWED] == []
    assert found["allowed"] == "visible-to-user-code"
    # Nor in what the kernel shows of the start-up environment of its parents.
    assert found["in_proc"] == {"self": [], "worker": [], "master": []}
    assert found["readable"]["self"]


@pytest.mark.parametrize("how", ["raise", "stderr"])
def test_activation_error_is_bounded_and_redacted(operator_worker: Callable[..., WorkerServer],
                                                  keys: Secrets, how: str) -> None:
    """Defense in depth: a secret value that code got hold of some other way (here: baked
    into the artifact) is still not handed back, and the text is bounded."""
    leaked = " ".join(keys.values().values())
    source = (f"raise RuntimeError({leaked!r} + ' ' + 'x' * 100_000)\n" if how == "raise" else
              f"import os, sys\nsys.stderr.write({leaked!r} + ' ' + 'y' * 100_000)\n"
              "sys.stderr.flush()\nos._exit(3)\n")
    server = operator_worker()
    message = _activation_error(_deployer(server), source)
    assert keys.found_in(message) == []
    assert len(message) <= MAX_ERROR_CHARS
    assert "[redacted]" in message
    assert "cannot be activated" in message


STEP_PROJECT = """
    import os
    from workflow_studio import step, workflow

    AT_IMPORT = dict(os.environ)   # the worker process importing the deployment

    def proc_environ(pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"unreadable: {exc}"

    @step
    def look():
        return {"environ": dict(os.environ), "at_import": AT_IMPORT,
                "self": proc_environ("self"), "master": proc_environ(os.getppid())}

    @step
    def fail():
        raise RuntimeError(repr(dict(os.environ)) + " " + "z" * 100_000)

    @workflow
    def inspect():
        return look()

    @workflow
    def failing():
        return fail()
"""


def _deploy_project(tmp_path: Path, deployer: ComputeClient) -> None:
    config = write_project(tmp_path / "project", {"spy_app/__init__.py": "",
                                                  "spy_app/flows.py": STEP_PROJECT},
                           ["spy_app.flows"])
    built = build_project(str(config), tmp_path / "project" / "out")
    deployment = deployer.create_deployment(built.manifest_path, built.artifact_path)
    deployer.activate_deployment(deployment["id"])


def _finished(client: ComputeClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get_run(run_id, wait=5)
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
    raise AssertionError(f"run {run_id} did not finish")


def test_steps_see_no_worker_secret(tmp_path: Path, operator_worker: Callable[..., WorkerServer],
                                    keys: Secrets) -> None:
    server = operator_worker()
    _deploy_project(tmp_path, _deployer(server))
    runner = ComputeClient(server.url, ADMIN_KEY)
    run = _finished(runner, runner.trigger_run("inspect")["id"])
    assert run["status"] == "completed", run
    seen = run["output"]
    assert keys.found_in(json.dumps(seen)) == []
    for environ in (seen["environ"], seen["at_import"]):
        assert not set(SECRET_NAMES) & set(environ)
        assert environ[ALLOWED] == "visible-to-user-code"
        assert NOT_ALLOWED not in environ
        # What a worker process keeps: the essentials, libpq's PG* (no password), the list.
        assert [k for k in environ if not (is_essential(k) or k == ALLOWED
                                           or k.startswith("PG"))] == []
        assert set(environ) & ESSENTIALS >= {"PATH"}
    for block in (seen["self"], seen["master"]):
        assert not [n for n in SECRET_NAMES if n + "=" in block]
    assert NOT_ALLOWED + "=" not in seen["self"]

    failed = _finished(runner, runner.trigger_run("failing")["id"])
    assert failed["status"] == "failed"
    error_text = json.dumps(failed["error"])
    assert keys.found_in(error_text) == []
    assert len(failed["error"]["message"]) <= MAX_ERROR_CHARS
    for step in runner.run_steps(failed["id"])["data"]:
        assert len(step["error"]["message"]) <= MAX_ERROR_CHARS


UNAVAILABLE_IN_THE_WORKER = """
    import json, os, sys
    from workflow_studio import workflow

    @workflow
    def hello():
        return 1

    if not sys.flags.isolated:  # the worker process (the activation check runs python -I)
        raise RuntimeError(json.dumps(dict(os.environ)) + " " + "w" * 100_000)
"""


def test_deployment_unavailable_error_holds_no_secret(
        operator_worker: Callable[..., WorkerServer], keys: Secrets) -> None:
    """Code that imports in the activation check but not in the worker process: the run
    fails with ``deployment_unavailable``, whose message is the worker-side import error."""
    server = operator_worker()
    deployer = _deployer(server)
    deployment = deployer.create_deployment(*_artifact(UNAVAILABLE_IN_THE_WORKER))
    deployer.activate_deployment(deployment["id"])
    runner = ComputeClient(server.url, ADMIN_KEY)
    run = _finished(runner, runner.trigger_run("hello")["id"])
    assert (run["status"], run["error"]["code"]) == ("failed", "deployment_unavailable")
    assert keys.found_in(json.dumps(run["error"])) == []
    assert len(run["error"]["message"]) <= MAX_ERROR_CHARS
    message = run["error"]["message"]
    environ, _ = json.JSONDecoder().raw_decode(message, message.index("{"))
    assert environ[ALLOWED] == "visible-to-user-code" and NOT_ALLOWED not in environ


def test_the_worker_still_has_its_secrets(tmp_path: Path,
                                          operator_worker: Callable[..., WorkerServer],
                                          keys: Secrets) -> None:
    """Taken out of the environment, not forgotten: the env seed key authenticates, in
    every process, also in the processes a SIGHUP reload starts (a seed missing there would
    be revoked), and webhooks verify with the env secret."""
    server = operator_worker()
    env_key = ComputeClient(server.url, keys.seed)
    assert env_key.request("GET", "/v1/keys/self")["name"] == "WORKFLOW_COMPUTE_API_KEY"
    os.kill(server.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while server.log().count(READY_MARKER) < 4:  # two new processes after the two first
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)
    for _ in range(8):  # requests land on both new processes (a 401 raises)
        assert env_key.request("GET", "/v1/keys/self")["name"] == "WORKFLOW_COMPUTE_API_KEY"
    assert "revoked" not in server.log()
    body = b'{"zen": "hidden, not forgotten"}'
    signature = hmac.new(keys.webhook.encode(), body, hashlib.sha256).hexdigest()
    delivered = requests.post(f"{server.url}/v1/webhooks/github", data=body, timeout=10,
                              headers={"X-Hub-Signature-256": f"sha256={signature}",
                                       "X-GitHub-Delivery": "d-1",
                                       "Content-Type": "application/json"})
    assert delivered.status_code == 200, delivered.text
    _deploy_project(tmp_path, _deployer(server))
    run = _finished(env_key, env_key.trigger_run("inspect")["id"])
    assert run["status"] == "completed"

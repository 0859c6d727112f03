"""deploy.sh, rollback.sh, validate.sh, health-check.sh and rotate-key.sh against a real
worker: a good deploy, one that fails validation and is rolled back, one that never
activates, rollbacks both ways, and a key rotated with its predecessor revoked."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.operations.conftest import Result, closed_port
from workflow_studio.client import ComputeClient
from workflow_studio.worker import WorkerServer

pytestmark = pytest.mark.e2e


def _variant(hello: Path, tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the hello project with ``old`` replaced by ``new`` in its workflows."""
    project = tmp_path / name
    shutil.copytree(hello, project)
    flows = project / "hello_workflows" / "__init__.py"
    assert old in flows.read_text()
    flows.write_text(flows.read_text().replace(old, new))
    return project


def test_deploy_validate_roll_back(worker: WorkerServer, hello: Path, tmp_path: Path,
                                   runbook: Callable[..., Result]) -> None:
    url, remote = worker.url, ComputeClient(worker.url, ADMIN_KEY)

    def run(script: str, *args: str) -> Result:
        return runbook(script, *args, url=url, key=ADMIN_KEY)

    nothing = run("health-check.sh", "--require-active")
    assert nothing.code == 3 and '"activeDeployment":null' in nothing.out, str(nothing)

    first = run("deploy.sh", "--project", str(hello), "--smoke", "greet",
                "--smoke-args", '["ops"]', "--timeout", "30")
    assert first.code == 0, str(first)
    v1 = first.out.strip()
    assert remote.get_active_deployment()["id"] == v1
    assert "is active and validated" in first.err

    # Activated, then validation fails (the app is unreachable): back to v1, exit 3.
    louder = _variant(hello, tmp_path, "v2", "Hello, ", "Hi, ")
    failed = run("deploy.sh", "--project", str(louder),
                 "--app-url", f"http://127.0.0.1:{closed_port()}")
    assert failed.code == 3, str(failed)
    assert failed.out.strip() == v1 and remote.get_active_deployment()["id"] == v1
    v2 = remote.list_deployments()["data"][0]["id"]
    assert v2 != v1 and f"rolled back to {v1}" in failed.err

    # A project that does not import never becomes active: exit 1, nothing moved.
    broken = _variant(hello, tmp_path, "broken", "from workflow_studio import",
                      "raise RuntimeError('boom')\nfrom workflow_studio import")
    refused = run("deploy.sh", "--project", str(broken))
    assert refused.code == 1 and "unchanged" in refused.err, str(refused)
    assert remote.get_active_deployment()["id"] == v1

    to_v2 = run("rollback.sh", "--deployment-id", v2)
    assert (to_v2.code, to_v2.out.strip()) == (0, v2), str(to_v2)
    back = runbook("rollback.sh", "--no-validate", url=url, key=ADMIN_KEY)  # the previous
    assert (back.code, back.out.strip()) == (0, v1), str(back)
    unknown = run("rollback.sh", "--deployment-id", "dpl_01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.code == 1 and remote.get_active_deployment()["id"] == v1, str(unknown)

    assert run("validate.sh").code == 0
    app_down = run("validate.sh", "--app-url", f"http://127.0.0.1:{closed_port()}")
    assert app_down.code == 1 and "app diagnostics" in app_down.out, str(app_down)
    healthy = run("health-check.sh", "--require-active")
    assert healthy.code == 0 and v1 in healthy.out, str(healthy)

    down = f"http://127.0.0.1:{closed_port()}"
    for script in ("health-check.sh", "deploy.sh", "rollback.sh", "validate.sh"):
        args = ("--project", str(hello)) if script == "deploy.sh" else ()
        gone = runbook(script, *args, url=down, key=ADMIN_KEY)
        assert gone.code == 2 and "unreachable" in gone.err, f"{script}: {gone}"


def test_rotate_key(worker: WorkerServer, runbook: Callable[..., Result],
                    tmp_path: Path) -> None:
    remote = ComputeClient(worker.url, ADMIN_KEY)
    old = remote.create_key(name="web-app", scopes=["trigger:write", "runs:read"],
                            rate_limit_per_minute=120)

    def whoami(secret: str) -> requests.Response:
        return requests.get(f"{worker.url}/v1/keys/self", timeout=5,
                            headers={"Authorization": f"Bearer {secret}"})

    rotated = runbook("rotate-key.sh", "--grace", "0", old["id"], url=worker.url, key=ADMIN_KEY)
    assert rotated.code == 0, str(rotated)
    secret = rotated.out.strip()
    assert secret.startswith("wsk_") and "\n" not in secret
    assert secret not in rotated.err
    me = whoami(secret)
    assert me.status_code == 200
    assert (me.json()["name"], sorted(me.json()["scopes"])) == (
        "web-app", ["runs:read", "trigger:write"])
    assert whoami(old["secret"]).status_code == 401
    listed = {k["id"]: k for k in remote.list_keys()["data"]}
    new = next(k for k in listed.values() if k["name"] == "web-app" and not k["revokedAt"])
    assert new["rateLimitPerMinute"] == 120 and listed[old["id"]]["revokedAt"]

    kept = runbook("rotate-key.sh", "--keep-old", "--output", str(tmp_path / "new.key"),
                   new["id"], url=worker.url, key=ADMIN_KEY)
    assert kept.code == 0 and kept.out == "", str(kept)
    assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
    assert whoami((tmp_path / "new.key").read_text().strip()).status_code == 200
    assert whoami(secret).status_code == 200  # kept
    assert f"keys revoke {new['id']}" in kept.err

    seed = next(k for k in listed.values() if k["source"] == "seed")
    refused = runbook("rotate-key.sh", "--grace", "0", seed["id"], url=worker.url,
                      key=ADMIN_KEY)
    assert refused.code == 1 and "seed key" in refused.err, str(refused)

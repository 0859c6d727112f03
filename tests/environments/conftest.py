"""The two builds every test here uses, made once per test session even under xdist: the
project ``envapp`` requiring ``tinydep`` 1.0 or 2.0 (wheels written in the test, resolved
with ``--no-index`` from a local directory), declaring ``STRIPE_KEY`` and ``DB_URL`` (as_env).
pip takes seconds per build on a busy machine, so the first worker builds under a file lock
and the others reuse what it wrote."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from tests.environments.helpers import env_project, tinydep_wheels
from workflow_studio.builder.project import ARTIFACT_NAME, MANIFEST_NAME, BuildResult, build_project
from workflow_studio.compute.manifest import parse_manifest

VERSIONS = ("1.0", "2.0")
SECRETS = ["STRIPE_KEY", {"name": "DB_URL", "as_env": True}]
SOURCE = '''
import hashlib
import os
import threading
import time

import tinydep
import workflow_studio as ws


def _digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


@ws.step
def versions():
    return {"version": tinydep.VERSION, "greeting": tinydep.greet("you"), "pid": os.getpid()}


@ws.step
def read(name):
    return ws.secret(name)


def _fingerprint(name):
    return {"sha256": _digest(ws.secret(name)), "pid": os.getpid(),
            "env": _digest(os.environ.get("DB_URL", ""))}


@ws.step
def fingerprint(name):
    return _fingerprint(name)


@ws.step
def slow_fingerprint(name):
    time.sleep(0.3)  # holds its executor slot, so concurrent runs spread over the processes
    return _fingerprint(name)


@ws.step(max_retries=0)
def leak(name):
    raise RuntimeError("the key is " + ws.secret(name))


@ws.step
def read_env(name):
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(os.environ.get(name)))
    thread.start()
    thread.join()
    return (os.environ.get(name), os.getenv(name), name in dict(os.environ),
            os.environ.get("STRIPE_KEY"), elsewhere[0])


@ws.step(isolation="process")
def isolated():
    return 1


@ws.workflow
def main():
    return versions()


@ws.workflow
def uses_secret():
    return fingerprint("STRIPE_KEY")


@ws.workflow
def uses_secret_slowly():
    return slow_fingerprint("STRIPE_KEY")


@ws.workflow
def leaks():
    return leak("STRIPE_KEY")


@ws.workflow
def undeclared():
    return fingerprint("NOT_DECLARED")


@ws.workflow
def greedy():
    return ws.secret("STRIPE_KEY")
'''


def env_config(root: Path, version: str) -> Path:
    """``envapp`` requiring ``tinydep==version`` from ``root/../wheels``."""
    tinydep_wheels(root.parent / "wheels")
    return env_project(root, {"envapp/__init__.py": "", "envapp/flows.py": SOURCE},
                       ["envapp.flows"], requirements=[f"tinydep=={version}"], secrets=SECRETS,
                       build={"find_links": ["../wheels"], "no_index": True})


def _result(out: Path) -> BuildResult:
    manifest = out / MANIFEST_NAME
    return BuildResult(parse_manifest(manifest.read_bytes()), out / ARTIFACT_NAME, manifest)


@pytest.fixture(scope="session")
def env_builds(tmp_path_factory: pytest.TempPathFactory,
               worker_id: str) -> dict[str, BuildResult]:
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    root = shared / "environment-builds"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "done.json"
        if not done.is_file():
            for version in VERSIONS:
                build_project(str(env_config(root / version, version)), root / f"out-{version}")
            done.write_text(json.dumps(VERSIONS))
    return {version: _result(root / f"out-{version}") for version in VERSIONS}

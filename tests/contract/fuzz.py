"""Fuzz the worker's HTTP API against its own OpenAPI document with schemathesis.

Starts a real worker (gunicorn, SQLite, an admin seed key, a webhook secret), deploys and
activates the project in ``tests/contract/project.py``, then runs ``st run`` over every
operation of ``GET /v1/openapi.json`` with every check (schemathesis's default: no 5xx;
statuses, content types, headers and bodies as documented; schema-violating requests
refused; ...), its coverage, fuzzing and stateful phases (the document's links) and a
request timeout. ``schemathesis.toml`` beside this file says where the API differs from
schemathesis's defaults, ``hooks.py`` what is changed in the requests sent. Exits with
schemathesis's status; on failure the worker's log lines other than access lines (its
tracebacks) are printed too. ``scripts/test`` runs it after the test suite.

    .venv/bin/python -m tests.contract.fuzz [--max-examples N] [--seed N] [st run options]

The seed is fixed, so a build fails or passes the same way every time; pass another
``--seed`` to explore further (the summary prints the seed of each run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.contract.project import build
from workflow_studio.client import ComputeClient
from workflow_studio.worker import start_compute_worker_server

ADMIN_KEY = "wsk_fuzz_admin_key_0123456789abcdef"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 50         # per operation and phase: about a minute on two cores
SEED = 13                 # issue 13, where this contract was asked for
REQUEST_TIMEOUT = 15      # seconds; a slower answer fails the run (no hangs)


def _environment() -> dict[str, str]:
    """The worker's and schemathesis's environment: none of the caller's WORKFLOW_* settings."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("WORKFLOW_") or k == "PORT")}


def _seed(url: str, root: Path) -> str:
    """Deploy and activate the project; park one run on the hook the examples resume.
    Returns the admin key's id."""
    client = ComputeClient(url, ADMIN_KEY)
    result = build(root / "project")
    deployment = client.create_deployment(result.manifest_path, result.artifact_path)
    client.activate_deployment(deployment["id"])
    started = requests.post(f"{url}/v1/runs", json={"workflowName": "approval"}, timeout=30,
                            headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                     "Idempotency-Key": "fuzz-seed-approval"})
    started.raise_for_status()
    return str(client.request("GET", "/v1/keys/self")["id"])


def _problems(log: str) -> str:
    """The worker log without its access lines: startup, warnings and tracebacks."""
    lines = [line for line in log.splitlines() if ' HTTP/1.1" ' not in line]
    return "\n".join(lines[-300:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=MAX_EXAMPLES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--worker-log", help="write the worker's log here (default: a "
                        "temporary file)")
    args, extra = parser.parse_known_args(argv)
    env = _environment()
    with tempfile.TemporaryDirectory(prefix="workflow-studio-fuzz-") as tmp:
        root = Path(tmp)
        server = start_compute_worker_server(
            env=env, log_path=args.worker_log or str(root / "worker.log"), workers=2,
            sqlite_path=str(root / "worker.db"), artifact_dir=str(root / "artifacts"),
            seed_api_keys=[{"key": ADMIN_KEY, "scopes": ["admin"], "name": "fuzz"}],
            # No per-key limit, and no throttle of failed authentications: schemathesis
            # sends hundreds of requests without a key (or with a wrong one) on purpose.
            rate_limit_per_minute=0, auth_failures_per_minute=0,
            webhooks={"hmac": {"secret": "fuzz-webhook-secret"}})
        try:
            key_id = _seed(server.url, root)
            command = [
                str(ST), "--config-file", str(HERE / "schemathesis.toml"), "run",
                f"{server.url}/v1/openapi.json", "--max-examples", str(args.max_examples),
                "--seed", str(args.seed), "--request-timeout", str(REQUEST_TIMEOUT),
                "--generation-database", "none", "--no-color", *extra]
            started = time.monotonic()
            status = subprocess.call(command, cwd=root, env={
                **env, "FUZZ_API_KEY": ADMIN_KEY, "FUZZ_KEY_ID": key_id,
                "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))})
            print(f"schemathesis: exit status {status} after "
                  f"{time.monotonic() - started:.0f} s", flush=True)
            if status != 0:
                print("---- worker log, access lines left out ----")
                print(_problems(server.log()), flush=True)
            return status
        finally:
            server.stop(10)


if __name__ == "__main__":
    sys.exit(main())

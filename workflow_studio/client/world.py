"""The remote world: ``start()`` and ``Run`` over the worker's HTTP API.

Selected by ``WORKFLOW_TARGET_WORLD=workflow-studio/world-remote`` with
``WORKFLOW_COMPUTE_BASE_URL`` and ``WORKFLOW_COMPUTE_API_KEY``. ``start()`` sends
``POST /v1/runs`` with an Idempotency-Key (the caller's, or a fresh one per call).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from workflow_studio.client.client import ComputeClient
from workflow_studio.client.errors import ComputeClientError, NotFoundComputeClientError
from workflow_studio.client.remote_world import WorldProxyMethods
from workflow_studio.compute.world import TERMINAL_STATUSES

MAX_PAGE = 1000  # the most runs GET /v1/runs answers at once


class RemoteWorld(WorldProxyMethods):
    """A ``World`` backed by a compute worker; with a ``world:proxy`` key it also speaks the
    world-proxy routes (``create_event``, ``list_hooks``, ``encryption_key``, ...)."""

    def __init__(self, client: ComputeClient) -> None:
        self.client = client

    @classmethod
    def from_env(cls) -> RemoteWorld:
        """The worker named by the environment; a missing variable is named in the error."""
        for name in ("WORKFLOW_COMPUTE_BASE_URL", "WORKFLOW_COMPUTE_API_KEY"):
            if not os.environ.get(name, "").strip():
                raise ComputeClientError(
                    f"WORKFLOW_TARGET_WORLD=workflow-studio/world-remote needs {name}; set it "
                    "to the worker's " + ("URL" if name.endswith("URL") else "API key"),
                    code="invalid_configuration")
        return cls(ComputeClient(os.environ["WORKFLOW_COMPUTE_BASE_URL"].strip(),
                                 os.environ["WORKFLOW_COMPUTE_API_KEY"].strip()))

    def start_run(self, workflow_name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  idempotency_key: str | None = None) -> dict[str, Any]:
        return dict(self.client.trigger_run(workflow_name, list(args), kwargs,
                                            idempotency_key=idempotency_key or str(uuid.uuid4())))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_run(run_id))
        except NotFoundComputeClientError:
            return None

    def wait_run(self, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            asked = max(0.0, min(30.0, left))
            sent = time.monotonic()
            run = dict(self.client.get_run(run_id, wait=asked or None))
            if run["status"] in TERMINAL_STATUSES or deadline - time.monotonic() <= 0:
                return run
            if asked and time.monotonic() - sent < min(asked, 1.0) / 2:
                # A wait ends early only when the run ends, or when the worker had no thread
                # to spare for it: then don't spin, look again in a moment.
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return dict(self.client.cancel_run(run_id))

    def list_runs(self, *, status: str | None = None, workflow: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        """``GET /v1/runs``, newest first, following the cursor until ``limit`` runs."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(out) < limit:
            page = self.client.list_runs(status=status, workflow=workflow, cursor=cursor,
                                         limit=min(limit - len(out), MAX_PAGE))
            out.extend(page["data"])
            cursor = page["cursor"]
            if not page["hasMore"] or cursor is None:
                break
        return out

    def list_events(self, run_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = 0
        while True:
            page = self.client.run_events(run_id, cursor)
            out.extend(page["data"])
            if not page["hasMore"]:
                return out
            cursor = page["cursor"]

    def list_steps(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.client.run_steps(run_id)["data"])

    def read_stream(self, run_id: str, name: str, after: int = 0) -> list[dict[str, Any]]:
        return list(self.client.run_stream(run_id, name, after)["data"])

    def resume_hook(self, token: str, payload: Any) -> dict[str, Any]:
        return dict(self.client.resume_hook(token, payload))

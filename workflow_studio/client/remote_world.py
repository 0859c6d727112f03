"""The world-proxy half of ``RemoteWorld``: one method per ``/v1/world/*`` route (and
``/v1/queue/publish``), for a runtime that drives the world event by event.

Lists take ``limit``, ``cursor`` and ``sort_order`` and return the page as the worker sends
it (``{"data", "cursor", "hasMore"}``); ``iter_*`` helpers follow the cursor. The key needs
the ``world:proxy`` scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from workflow_studio.compute import payloads

if TYPE_CHECKING:
    from workflow_studio.client.client import ComputeClient, JSONObject


def _page(limit: int, cursor: str | int | None, sort_order: str | None,
          **extra: Any) -> dict[str, Any]:
    body = {"limit": limit, "cursor": cursor, **{k: v for k, v in extra.items()
                                                  if v is not None}}
    if sort_order is not None:
        body["sortOrder"] = sort_order
    return body


class WorldProxyMethods:
    """Mixed into ``RemoteWorld``; needs ``self.client`` (a ``ComputeClient``)."""

    client: ComputeClient

    # queue and deployment -------------------------------------------------------------
    def queue_publish(self, run_id: str, delay_seconds: float = 0) -> JSONObject:
        return self.client._object("POST", "/v1/queue/publish",
                                   json={"runId": run_id, "delaySeconds": delay_seconds})

    def deployment_id(self) -> str:
        return str(self.client.request("GET", "/v1/world/deployment-id")["deploymentId"])

    # events ---------------------------------------------------------------------------
    def create_event(self, run_id: str | None, event_type: str,
                     correlation_id: str | None = None, **event_data: Any) -> JSONObject:
        """Apply one event; payload values (``input``, ``output``, ``payload``) may hold
        datetimes, bytes, ... (sent as tagged JSON)."""
        for name in ("input", "output", "payload"):
            if name in event_data:
                event_data[name] = payloads.to_jsonable(event_data[name], name)
        return self.client._object("POST", "/v1/world/events/create", json={
            "runId": run_id, "eventType": event_type, "correlationId": correlation_id,
            "eventData": event_data})

    def list_world_events(self, run_id: str, *, limit: int = 100, cursor: int | None = None,
                          sort_order: str | None = None) -> JSONObject:
        return self.client._object("POST", "/v1/world/events/list",
                                   json=_page(limit, cursor, sort_order, runId=run_id))

    def list_events_by_correlation(self, correlation_id: str, *, limit: int = 100,
                                   cursor: int | None = None,
                                   sort_order: str | None = None) -> JSONObject:
        return self.client._object("POST", "/v1/world/events/list-by-correlation", json=_page(
            limit, cursor, sort_order, correlationId=correlation_id))

    def get_event(self, event_id: str) -> JSONObject:
        return self.client._object("GET", f"/v1/world/events/{quote(event_id, safe='')}")

    # runs, steps, hooks ---------------------------------------------------------------
    def list_world_runs(self, *, limit: int = 100, cursor: str | None = None,
                        sort_order: str | None = None, status: str | None = None,
                        workflow_name: str | None = None,
                        deployment_id: str | None = None) -> JSONObject:
        return self.client._object("POST", "/v1/world/runs/list", json=_page(
            limit, cursor, sort_order, status=status, workflowName=workflow_name,
            deploymentId=deployment_id))

    def get_world_run(self, run_id: str) -> JSONObject:
        return self.client._object("GET", f"/v1/world/runs/{quote(run_id, safe='')}")

    def get_step(self, step_id: str) -> JSONObject:
        return self.client._object("GET", f"/v1/world/steps/{quote(step_id, safe='')}")

    def list_world_steps(self, run_id: str, *, limit: int = 100, cursor: int | None = None,
                         sort_order: str | None = None) -> JSONObject:
        return self.client._object("POST", "/v1/world/steps/list",
                                   json=_page(limit, cursor, sort_order, runId=run_id))

    def get_hook(self, hook_id: str) -> JSONObject:
        return self.client._object("GET", f"/v1/world/hooks/{quote(hook_id, safe='')}")

    def get_hook_by_token(self, token: str) -> JSONObject:
        return self.client._object("GET", f"/v1/world/hooks/by-token/{quote(token, safe='')}")

    def list_hooks(self, run_id: str | None = None, *, limit: int = 100,
                   cursor: str | None = None, sort_order: str | None = None) -> JSONObject:
        return self.client._object("POST", "/v1/world/hooks/list",
                                   json=_page(limit, cursor, sort_order, runId=run_id))

    # streams --------------------------------------------------------------------------
    def write_stream(self, run_id: str, name: str, *chunks: Any) -> JSONObject:
        return self.client._object("POST", "/v1/world/streams/write", json={
            "runId": run_id, "name": name,
            "chunks": [payloads.to_jsonable(c, "chunk") for c in chunks]})

    def close_stream(self, run_id: str, name: str) -> JSONObject:
        return self.client._object("POST", "/v1/world/streams/close",
                                   json={"runId": run_id, "name": name})

    def read_stream_page(self, run_id: str, name: str, cursor: int = 0,
                         limit: int = 1000) -> JSONObject:
        return self.client._object("GET", "/v1/world/streams/read", params={
            "runId": run_id, "name": name, "cursor": cursor, "limit": limit})

    def stream_chunks(self, run_id: str, name: str, cursor: int = 0,
                      limit: int = 1000) -> JSONObject:
        return self.client._object("GET", "/v1/world/streams/chunks", params={
            "runId": run_id, "name": name, "cursor": cursor, "limit": limit})

    def stream_info(self, run_id: str, name: str) -> JSONObject:
        return self.client._object("GET", "/v1/world/streams/info",
                                   params={"runId": run_id, "name": name})

    def list_streams(self, run_id: str) -> list[str]:
        return list(self.client.request("GET", "/v1/world/streams/list",
                                        params={"runId": run_id})["data"])

    # encryption -----------------------------------------------------------------------
    def encryption_key(self, run_id: str) -> str:
        """The run's derived 256-bit key (base64url)."""
        return str(self.client.request("POST", "/v1/world/encryption-key",
                                       json={"runId": run_id})["key"])

    # pagination helper ----------------------------------------------------------------
    @staticmethod
    def iterate(fetch: Callable[..., JSONObject], *args: Any,
                **kwargs: Any) -> Iterator[Any]:
        """Every item of a paginated method: ``world.iterate(world.list_hooks, run_id)``."""
        cursor = None
        while True:
            page = fetch(*args, cursor=cursor, **kwargs)
            yield from page["data"]
            if not page["hasMore"]:
                return
            cursor = page["cursor"]

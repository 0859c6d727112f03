"""The ``World`` interface ``start()`` and ``Run`` talk to: the embedded local world
implements it over SQLite in-process, a remote world over the worker's HTTP API.

Runs, events and chunks travel as the API's JSON shapes (payloads as tagged JSON), so both
implementations return the same data.
"""

from __future__ import annotations

from typing import Any, Protocol


class World(Protocol):
    def start_run(self, workflow_name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  idempotency_key: str | None = None) -> dict[str, Any]: ...

    def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    def wait_run(self, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once terminal, or as it is when ``timeout`` runs out."""
        ...

    def cancel_run(self, run_id: str) -> dict[str, Any]: ...

    def list_events(self, run_id: str) -> list[dict[str, Any]]: ...

    def list_steps(self, run_id: str) -> list[dict[str, Any]]: ...

    def read_stream(self, run_id: str, name: str, after: int = 0) -> list[dict[str, Any]]: ...

    def resume_hook(self, token: str, payload: Any) -> dict[str, Any]: ...


TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

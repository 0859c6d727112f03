"""``list_runs()``: the runs of the process's world, newest first, as typed summaries.

The local world reads its database (any process may: reading never executes); the remote
world pages through ``GET /v1/runs``. Both answer with the API's run JSON, which becomes a
``RunSummary``: a snapshot taken once, with ``.run()`` for the live ``Run`` handle.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from workflow_studio.compute.errors import RunErrorCode
from workflow_studio.compute.runs import RUN_STATUSES, RunStatus
from workflow_studio.compute.world import World
from workflow_studio.sdk.runs import Run, run_error_code
from workflow_studio.sdk.worlds import get_world

if TYPE_CHECKING:
    from workflow_studio.authoring.decorators import Workflow


@runtime_checkable
class RunLister(Protocol):
    """A world that can list runs (both of ours); newest first, without input or output."""

    def list_runs(self, *, status: str | None = None, workflow: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]: ...


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One run as ``list_runs()`` found it (it is not refreshed; ``.run()`` is live).

    Times are timezone-aware UTC ``datetime``s; ``waiting_on`` and ``error`` are the API's
    ``waitingOn`` and ``error`` objects, ``error_code`` the error's ``RunErrorCode``.
    """

    id: str
    workflow_name: str
    status: RunStatus
    trigger_type: str
    deployment_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    waiting_on: dict[str, Any] | None
    error: dict[str, Any] | None
    _world: World = dataclasses.field(repr=False, compare=False)

    @property
    def error_code(self) -> RunErrorCode | str | None:
        return run_error_code(self.error)

    def run(self) -> Run[Any]:
        """The live handle on this run, in the world it was listed from."""
        return Run(self.id, self._world)

    @classmethod
    def of_json(cls, run: dict[str, Any], world: World) -> RunSummary:
        return cls(id=run["id"], workflow_name=run["workflowName"],
                   status=cast(RunStatus, run["status"]), trigger_type=run["triggerType"],
                   deployment_id=run.get("deploymentId"),
                   created_at=datetime.fromisoformat(run["createdAt"]),
                   started_at=_time(run.get("startedAt")),
                   completed_at=_time(run.get("completedAt")),
                   waiting_on=run.get("waitingOn"), error=run.get("error"), _world=world)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def list_runs(*, status: RunStatus | None = None,
              workflow: Workflow[..., Any] | str | None = None,
              limit: int = 100) -> list[RunSummary]:
    """Runs of this process's world, newest first: at most ``limit``, only those with
    ``status`` and of ``workflow`` (a ``@workflow`` function or its name) when given."""
    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    if type(limit) is not int or limit < 1:
        raise ValueError(f"limit must be a positive int, not {limit!r}")
    world = get_world()
    if not isinstance(world, RunLister):
        raise TypeError(f"{type(world).__name__} cannot list runs")
    rows = world.list_runs(status=status, workflow=_workflow_name(workflow), limit=limit)
    return [RunSummary.of_json(row, world) for row in rows]


def _workflow_name(workflow: object) -> str | None:
    if workflow is None or isinstance(workflow, str):
        return workflow
    definition = getattr(workflow, "__workflow__", None)
    if definition is None:
        raise TypeError(f"workflow must be a @workflow function or its name, not {workflow!r}")
    return str(definition.name)

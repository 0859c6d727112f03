"""``workflow-studio runs start|list|show|cancel|resume|tail``: against a remote worker
(``--url``/``--api-key``), the local worker's database, or the local world's (``--local``:
the runs an app's embedded world keeps in ``./.workflow-studio/local.db``). Without
``--url`` the command reads whichever database is there (``target.runs_target``); a change
made here rings the executors of that database on this machine, so they act on it at once.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import click

from workflow_studio.cli.output import fail, print_json, print_table
from workflow_studio.cli.target import (
    client,
    local_database,
    local_option,
    local_settings,
    local_world_file,
    remote_options,
    runs_target,
)
from workflow_studio.compute import payloads
from workflow_studio.compute.runs import RUN_STATUSES, TRIGGER_TYPES
from workflow_studio.compute.world import TERMINAL_STATUSES
from workflow_studio.storage import Database, Row

CLI_IDEMPOTENCY_SCOPE = "cli"  # keys given to the local `runs start`, apart from API keys'
_COLUMNS = [("id", "ID"), ("workflowName", "WORKFLOW"), ("status", "STATUS"),
            ("triggerType", "TRIGGER"), ("deploymentId", "DEPLOYMENT"),
            ("createdAt", "CREATED"), ("completedAt", "FINISHED")]


class _Local:
    """The operations the CLI needs, on a database of this machine: the local worker's
    (``_LocalWorker``) or the local world's (``_LocalWorld``)."""

    max_payload_bytes: int | None = payloads.DEFAULT_MAX_BYTES

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.connection()

    def _run_json(self, row: Row, include_io: bool = True) -> Any:
        from workflow_studio.engine import render
        return render.run_json(row, include_io)

    def _changed(self) -> None:
        """Ring this database's executors on this machine (they would find the change at
        their next safety poll anyway)."""
        if self.db.dialect == "sqlite":
            from workflow_studio.engine import wakeups
            wakeups.ring_all(wakeups.channel_dir(self.db.target))

    def get_run(self, run_id: str, wait: float | None = None) -> Any:
        from workflow_studio.storage.world import runs
        deadline = time.monotonic() + (wait or 0)
        while True:
            row = runs.get(self.conn, run_id)
            if row is None:
                fail(f"no run {run_id!r}")
            if row["status"] in TERMINAL_STATUSES or time.monotonic() >= deadline:
                return self._run_json(row)
            time.sleep(0.05)

    def list_runs(self, **filters: Any) -> Any:
        from workflow_studio.storage.world import runs
        rows, more = runs.list_runs(self.conn, status=filters.get("status"),
                                    workflow=filters.get("workflow"),
                                    trigger_type=filters.get("trigger_type"),
                                    cursor=filters.get("cursor"), limit=filters["limit"])
        return {"data": [self._run_json(r, include_io=False) for r in rows],
                "cursor": rows[-1]["id"] if rows and more else None, "hasMore": more}

    def run_steps(self, run_id: str) -> Any:
        from workflow_studio.engine import render
        from workflow_studio.storage.world import steps
        return {"data": [render.step_json(s) for s in steps.for_run(self.conn, run_id)]}

    def run_events(self, run_id: str, cursor: int = 0, limit: int = 1000) -> Any:
        from workflow_studio.engine import render
        from workflow_studio.storage.world import events, runs
        if runs.get(self.conn, run_id) is None:
            fail(f"no run {run_id!r}")
        rows = events.list_for_run(self.conn, run_id, cursor, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": [render.event_json(e) for e in rows],
                "cursor": rows[-1]["position"] if rows and more else None, "hasMore": more}

    def run_stream(self, run_id: str, name: str, cursor: int = 0) -> Any:
        from workflow_studio.engine import render
        from workflow_studio.storage.world import streams
        return {"data": [render.chunk_json(c)
                         for c in streams.read(self.conn, run_id, name, cursor)]}

    def cancel_run(self, run_id: str) -> Any:
        from workflow_studio.engine import service
        from workflow_studio.storage.world import WorldConflict
        try:
            row = service.cancel(self.conn, run_id)
        except LookupError:
            fail(f"no run {run_id!r}")
        except WorldConflict as exc:
            fail(str(exc))
        self._changed()
        return self._run_json(row)

    def resume_hook(self, token: str, payload: Any) -> Any:
        from workflow_studio.engine import service
        from workflow_studio.sdk.errors import HookAlreadyResolvedError, HookNotFoundError
        from workflow_studio.storage.world import WorldConflict
        try:
            hook = service.resume_hook(self.conn, token, payload, self.max_payload_bytes)
        except service.HookNotFound:
            fail(str(HookNotFoundError(token)))
        except WorldConflict:
            fail(str(HookAlreadyResolvedError(token)))
        except payloads.PayloadError as exc:
            fail(f"--payload: {exc}")
        self._changed()
        return {"hookId": hook["id"], "runId": hook["run_id"], "status": "resumed"}


class _LocalWorker(_Local):
    """The local worker's database; the only one ``runs start`` writes to."""

    def __init__(self, ctx: click.Context) -> None:
        settings = local_settings(ctx)
        super().__init__(local_database(ctx))
        self.retention_ms = settings.idempotency_retention_seconds * 1000
        self.max_payload_bytes = settings.max_payload_bytes

    def trigger_run(self, name: str, args: list[Any], kwargs: dict[str, Any], *,
                    deployment_id: str | None = None, idempotency_key: str | None = None
                    ) -> Any:
        """Start a run through the same service and rules as ``POST /v1/runs``."""
        from workflow_studio.engine import runs as starts
        request = starts.StartRequest(
            name, args, kwargs, deployment_id, "api",
            starts.Idempotency(CLI_IDEMPOTENCY_SCOPE, idempotency_key, self.retention_ms)
            if idempotency_key else None)
        try:
            started = starts.start_run(self.conn, request)
        except starts.StartRefused as exc:
            fail(f"{exc.code.value}: {exc.message}")
        if started.replayed is not None and not started.run:
            fail(f"idempotency key {idempotency_key!r} names a run that no longer exists")
        self._changed()
        return self._run_json(started.run)


class _LocalWorld(_Local):
    """The local world's database: runs read as ``ws.get_run`` reads them (``waitingOn``
    says when one waits for an executor), and this process never executes any."""

    def __init__(self) -> None:
        from workflow_studio.config.local_world import local_world_settings
        from workflow_studio.engine.owners import node_id
        super().__init__(Database(str(local_world_file())))
        self.max_payload_bytes = local_world_settings().max_payload_bytes
        self.node = node_id()

    def _run_json(self, row: Row, include_io: bool = True) -> Any:
        from workflow_studio.engine import readiness, render
        return render.run_json(readiness.as_read(self.conn, row, self.node), include_io)


def _target(ctx: click.Context, url: str | None, api_key: str | None,
            local: bool = False, starting: bool = False) -> Any:
    where = runs_target(ctx, url, local, starting)
    if where == "remote":
        assert url is not None
        return client(url, api_key)
    return _LocalWorld() if where == "local-world" else _LocalWorker(ctx)


def _json_arg(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise click.BadParameter(f"{what} must be JSON") from None


@click.group("runs")
def command() -> None:
    """Start, inspect, cancel and resume workflow runs."""


@command.command("start")
@click.argument("workflow")
@click.option("--args", "args_json", help='Positional arguments as a JSON list, e.g. [1, "a"].')
@click.option("--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option("--deployment-id", help="Pin to this deployment (default: the active one).")
@click.option("--idempotency-key", help="Reuse to make retries of this command safe.")
@click.option("--wait", type=click.FloatRange(0, 3600), help="Wait up to N s for the result.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@remote_options()
@click.pass_context
def start(ctx: click.Context, workflow: str, args_json: str | None, kwargs_json: str | None,
          deployment_id: str | None, idempotency_key: str | None, wait: float | None,
          as_json: bool, url: str | None, api_key: str | None) -> None:
    """Start a run of WORKFLOW."""
    target = _target(ctx, url, api_key, starting=True)
    args = _json_arg(args_json, "--args") or []
    kwargs = _json_arg(kwargs_json, "--kwargs") or {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise click.BadParameter("--args must be a JSON list and --kwargs a JSON object")
    run = target.trigger_run(workflow, args, kwargs, deployment_id=deployment_id,
                             idempotency_key=idempotency_key)
    if wait:
        run = _wait(target, run["id"], wait)
    _show(run, as_json)
    if run["status"] == "failed":
        ctx.exit(1)


def _wait(target: Any, run_id: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        run = target.get_run(run_id, wait=max(0.1, min(30.0, left)))
        if run["status"] in TERMINAL_STATUSES or time.monotonic() >= deadline:
            return run


def _show(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(run)
        return
    for key, label in (("id", "run"), ("workflowName", "workflow"), ("status", "status"),
                       ("deploymentId", "deployment"), ("createdAt", "created"),
                       ("completedAt", "finished")):
        if run.get(key) is not None:
            click.echo(f"{label + ':':12}{run[key]}")
    if run.get("waitingOn"):
        click.echo(f"{'waiting on:':12}{json.dumps(run['waitingOn'])}")
    if run.get("status") == "completed":
        click.echo(f"{'result:':12}{json.dumps(run.get('output'))}")
    if run.get("error"):
        click.echo(f"{'error:':12}{run['error'].get('code')}: {run['error'].get('message')}")


@command.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option("--workflow", help="Only runs of this workflow.")
@click.option("--trigger-type", type=click.Choice(TRIGGER_TYPES))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--cursor", help="Continue after this run id (from a previous page).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@local_option
@remote_options()
@click.pass_context
def list_(ctx: click.Context, status: str | None, workflow: str | None,
          trigger_type: str | None, limit: int, cursor: str | None, as_json: bool,
          local: bool, url: str | None, api_key: str | None) -> None:
    """List runs, newest first."""
    page = _target(ctx, url, api_key, local).list_runs(status=status, workflow=workflow,
                                                trigger_type=trigger_type, cursor=cursor,
                                                limit=limit)
    if as_json:
        print_json(page)
        return
    print_table(page["data"], _COLUMNS)
    if page.get("hasMore"):
        click.echo(f"more: --cursor {page['cursor']}")


@command.command("show")
@click.argument("run_id")
@click.option("--steps", "with_steps", is_flag=True, help="Also list the run's steps.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@local_option
@remote_options()
@click.pass_context
def show(ctx: click.Context, run_id: str, with_steps: bool, as_json: bool, local: bool,
         url: str | None, api_key: str | None) -> None:
    """Show RUN_ID: status, result or error, what it waits on."""
    target = _target(ctx, url, api_key, local)
    run = target.get_run(run_id)
    if with_steps:
        run["steps"] = target.run_steps(run_id)["data"]
    _show(run, as_json)
    if with_steps and not as_json:
        print_table(run["steps"], [("position", "#"), ("stepName", "STEP"),
                                   ("status", "STATUS"), ("attempt", "ATTEMPTS"),
                                   ("completedAt", "FINISHED")])
        for step in run["steps"]:  # where each failing step raised: its traceback
            stack = (step.get("error") or {}).get("stack")
            if stack and step["status"] in ("failed", "retrying"):
                click.echo(f"\nstep {step['position']} {step['stepName']} (attempt "
                           f"{step['attempt']}, {step['status']}):\n{stack.rstrip()}")


@command.command("cancel")
@click.argument("run_id")
@local_option
@remote_options()
@click.pass_context
def cancel(ctx: click.Context, run_id: str, local: bool, url: str | None,
           api_key: str | None) -> None:
    """Cancel RUN_ID (pending or running, parked included)."""
    run = _target(ctx, url, api_key, local).cancel_run(run_id)
    click.echo(f"Cancelled {run['id']}.")


@command.command("resume")
@click.argument("token")
@click.option("--payload", help="The payload as JSON (default null).")
@local_option
@remote_options()
@click.pass_context
def resume(ctx: click.Context, token: str, payload: str | None, local: bool,
           url: str | None, api_key: str | None) -> None:
    """Deliver a payload to the hook waiting on TOKEN."""
    result = _target(ctx, url, api_key, local).resume_hook(token, _json_arg(payload, "--payload"))
    click.echo(f"Resumed run {result['runId']} (hook {result['hookId']}).")


@command.command("tail")
@click.argument("run_id")
@click.option("--stream", "name", help="Follow this stream's chunks instead of the events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--timeout", type=click.FloatRange(0), default=300, show_default=True)
@local_option
@remote_options()
@click.pass_context
def tail(ctx: click.Context, run_id: str, name: str | None, as_json: bool, timeout: float,
         local: bool, url: str | None, api_key: str | None) -> None:
    """Print RUN_ID's events as they are recorded, until the run ends (exit status 1 if it
    failed); with --stream, a stream's chunks until it closes."""
    target = _target(ctx, url, api_key, local)
    if name is None:
        if _follow_events(target, run_id, timeout, as_json) == "run_failed":
            ctx.exit(1)
        return
    cursor, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunks = target.run_stream(run_id, name, cursor)["data"]
        for chunk in chunks:
            cursor = chunk["position"]
            if chunk["done"]:
                return
            data = payloads.from_jsonable(chunk["data"])
            if as_json:
                click.echo(json.dumps(chunk["data"]))
            else:
                click.echo(data if isinstance(data, str) else json.dumps(chunk["data"]))
        if not chunks:
            if target.get_run(run_id)["status"] in TERMINAL_STATUSES:
                if not target.run_stream(run_id, name, cursor)["data"]:
                    return
                continue
            time.sleep(TAIL_POLL_SECONDS)
    fail(f"stream {name!r} still open after {timeout:g}s")


TAIL_POLL_SECONDS = 0.2
# On PostgreSQL, two transactions of one run (parallel steps) can commit out of position
# order, so a follower re-reads what it was shown in the last half second and skips what it
# printed: an event that commits late is still printed, once.
TAIL_SETTLE_SECONDS = 0.5
_RUN_ENDS = frozenset({"run_completed", "run_failed", "run_cancelled"})


def _follow_events(target: Any, run_id: str, timeout: float, as_json: bool) -> str:
    """Print events until the run's last one has settled; returns that event's type."""
    deadline = time.monotonic() + timeout
    printed: dict[str, int] = {}  # event id -> position, above ``floor``
    marks: deque[tuple[float, int]] = deque()  # (when, highest position printed by then)
    floor, ended_at, ending = 0, None, ""
    while time.monotonic() < deadline:
        now = time.monotonic()
        while marks and now - marks[0][0] >= TAIL_SETTLE_SECONDS:
            floor = max(floor, marks.popleft()[1])
        cursor: int | None = floor
        while cursor is not None:
            page = target.run_events(run_id, cursor)
            for event in page["data"]:
                if event["id"] not in printed:
                    printed[event["id"]] = event["position"]
                    _print_event(event, as_json)
                    if event["eventType"] in _RUN_ENDS and ended_at is None:
                        ended_at, ending = now, event["eventType"]
            cursor = page["cursor"] if page.get("hasMore") else None
        printed = {k: p for k, p in printed.items() if p > floor}
        marks.append((now, max(printed.values(), default=floor)))
        if ended_at is not None and now - ended_at >= TAIL_SETTLE_SECONDS:
            return ending
        time.sleep(TAIL_POLL_SECONDS)
    fail(f"run {run_id} still going after {timeout:g}s")


def _print_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(event, separators=(",", ":")))
        return
    payload = json.dumps(event["payload"]) if event["payload"] is not None else ""
    if len(payload) > 120:
        payload = payload[:117] + "..."
    click.echo(f"{event['createdAt']}  {event['eventType']:<16} "
               f"{event['correlationId'] or '-'}  {payload}".rstrip())

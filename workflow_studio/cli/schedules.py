"""``workflow-studio schedules list|show|create|pause|resume|trigger|backfill|preview|delete``
against a worker (``--url``/``--api-key``); a schedule is named by its id or its name."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click

from workflow_studio.cli.output import print_json, print_table
from workflow_studio.cli.target import client, remote_options
from workflow_studio.compute import schedules as vocabulary

_COLUMNS = [("name", "NAME"), ("id", "ID"), ("workflowName", "WORKFLOW"),
            ("spec", "SPEC"), ("description", "DESCRIPTION"), ("state", "STATE"),
            ("nextFireAt", "NEXT FIRE")]
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _path(ref: str, tail: str = "") -> str:
    return f"/v1/schedules/{quote(ref, safe='')}{tail}"


def _call(url: str, api_key: str | None, method: str, path: str, **kwargs: Any) -> Any:
    return client(url, api_key).request(method, path, **kwargs)


def _spec(s: dict[str, Any]) -> str:
    parts = list(s.get("cron") or [])
    if s.get("intervalSeconds"):
        parts.append(f"every {s['intervalSeconds']}s")
    return " | ".join(parts)


def _state(s: dict[str, Any]) -> str:
    if s.get("paused"):
        return "paused" + (f" ({s['pauseNote']})" if s.get("pauseNote") else "")
    return "active" if s.get("nextFireAt") else "done"


def _show(s: dict[str, Any]) -> None:
    fields = [("id", s["id"]), ("name", s["name"]), ("workflow", s["workflowName"]),
              ("spec", _spec(s)), ("description", s.get("description")),
              ("timezone", s.get("timezone")), ("state", _state(s)),
              ("paused by", s.get("pausedBy") or "-"),
              ("next fire", s.get("nextFireAt") or "-"),
              ("overlap", s.get("overlap")),
              ("catch-up", f"{s.get('catchup')} within {s.get('catchupWindowSeconds')} s, "
                           f"at most {s.get('maxCatchup')}"),
              ("remaining", s.get("remainingActions") if s.get("remainingActions") is not None
               else "unlimited"),
              ("deployment", s.get("deploymentId") or "active at fire time"),
              ("source", s.get("source")), ("args", json.dumps(s.get("args"))),
              ("kwargs", json.dumps(s.get("kwargs")))]
    for name, value in fields:
        click.echo(f"{name + ':':13}{value}")
    ticks = s.get("recentTicks") or []
    if ticks:
        click.echo("recent ticks:")
        print_table([{**t, "count": t.get("count") if (t.get("count") or 1) != 1 else ""}
                     for t in ticks],
                    [("scheduledAt", "  TICK"), ("outcome", "OUTCOME"), ("count", "COUNT"),
                     ("runId", "RUN"), ("runStatus", "RUN STATUS"), ("reason", "REASON")])


@click.group("schedules")
def command() -> None:
    """Cron and interval schedules on a worker (exactly one run per tick)."""


@command.command("list")
@click.option("--workflow", help="Only this workflow's schedules.")
@click.option("--paused/--active", default=None, help="Only paused (or unpaused) ones.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", help="Continue after this cursor (from a previous --json page).")
@_json_option
@remote_options(required=True)
def list_(workflow: str | None, paused: bool | None, limit: int, cursor: str | None,
          as_json: bool, url: str, api_key: str | None) -> None:
    """List schedules with the human description of their cron."""
    params: dict[str, Any] = {"limit": limit, "workflow": workflow, "cursor": cursor,
                              "paused": None if paused is None else str(paused).lower()}
    page = _call(url, api_key, "GET", "/v1/schedules",
                 params={k: v for k, v in params.items() if v is not None})
    if as_json:
        print_json(page)
        return
    print_table([{**s, "spec": _spec(s), "state": _state(s)} for s in page["data"]], _COLUMNS)
    if page.get("hasMore"):
        click.echo(f"(more: --cursor {page['cursor']})")


@command.command("show")
@click.argument("schedule")
@click.option("--ticks", type=click.IntRange(0, 100), default=20, show_default=True,
              help="How many of the newest ticks to show.")
@_json_option
@remote_options(required=True)
def show(schedule: str, ticks: int, as_json: bool, url: str, api_key: str | None) -> None:
    """Show one schedule: its spec, state, next fire and newest ticks with their runs."""
    found = _call(url, api_key, "GET", _path(schedule), params={"ticks": ticks})
    print_json(found) if as_json else _show(found)


@command.command("create")
@click.argument("name")
@click.option("--workflow", required=True, help="The workflow each tick starts.")
@click.option("--cron", "crons", multiple=True,
              help="A cron expression (5 fields, or 6 with leading seconds); repeatable.")
@click.option("--every", "interval", type=click.IntRange(1), help="Interval in seconds.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cron.")
@click.option("--args", "args_json", default="[]", help="Workflow args as a JSON list.")
@click.option("--kwargs", "kwargs_json", default="{}", help="Workflow kwargs as JSON.")
@click.option("--overlap", type=click.Choice(vocabulary.OVERLAP_POLICIES), default="skip",
              show_default=True)
@click.option("--catchup", type=click.Choice(vocabulary.CATCHUP_POLICIES), default="latest",
              show_default=True)
@click.option("--jitter", type=click.IntRange(0), default=0, help="Jitter in seconds.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@_json_option
@remote_options(required=True)
def create(name: str, workflow: str, crons: tuple[str, ...], interval: int | None,
           timezone: str, args_json: str, kwargs_json: str, overlap: str, catchup: str,
           jitter: int, paused: bool, as_json: bool, url: str, api_key: str | None) -> None:
    """Create a schedule NAME."""
    try:
        args, kwargs = json.loads(args_json), json.loads(kwargs_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None
    body = {"name": name, "workflowName": workflow, "cron": list(crons),
            "intervalSeconds": interval, "timezone": timezone, "args": args,
            "kwargs": kwargs, "overlap": overlap, "catchup": catchup,
            "jitterSeconds": jitter, "paused": paused}
    made = _call(url, api_key, "POST", "/v1/schedules", json=body)
    print_json(made) if as_json else _show(made)


@command.command("pause")
@click.argument("schedule")
@click.option("--note", help="Why it is paused (shown with the schedule).")
@_json_option
@remote_options(required=True)
def pause(schedule: str, note: str | None, as_json: bool, url: str,
          api_key: str | None) -> None:
    """Pause a schedule; its ticks are recorded as paused until it resumes."""
    done = _call(url, api_key, "POST", _path(schedule, "/pause"), json={"note": note})
    print_json(done) if as_json else click.echo(f"paused {done['name']} ({done['id']})")


@command.command("resume")
@click.argument("schedule")
@_json_option
@remote_options(required=True)
def resume(schedule: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Resume a paused schedule from its next tick after now."""
    done = _call(url, api_key, "POST", _path(schedule, "/resume"))
    print_json(done) if as_json else click.echo(
        f"resumed {done['name']}; next fire {done.get('nextFireAt') or '-'}")


@command.command("trigger")
@click.argument("schedule")
@click.option("--overlap", type=click.Choice(vocabulary.TRIGGER_OVERLAP), default="allow_all",
              show_default=True, help="What to do when a run of it is live.")
@_json_option
@remote_options(required=True)
def trigger(schedule: str, overlap: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Fire a schedule now (uses no tick)."""
    done = _call(url, api_key, "POST", _path(schedule, "/trigger"), json={"overlap": overlap})
    if as_json:
        print_json(done)
        return
    run = done.get("run") or {}
    click.echo(f"{done['outcome']}" + (f": {run['id']}" if run else ""))


@command.command("backfill")
@click.argument("schedule")
@click.option("--from", "first", required=True, help="First tick time (ISO 8601).")
@click.option("--to", "last", required=True, help="Last tick time (ISO 8601).")
@click.option("--overlap", type=click.Choice(vocabulary.OVERLAP_POLICIES),
              help="Overlap policy for these ticks (default: the schedule's).")
@click.option("--dry-run", is_flag=True, help="Only list the ticks it would fire.")
@_json_option
@remote_options(required=True)
def backfill(schedule: str, first: str, last: str, overlap: str | None, dry_run: bool,
             as_json: bool, url: str, api_key: str | None) -> None:
    """Fire the schedule's past ticks between --from and --to (each at most once)."""
    body: dict[str, Any] = {"from": first, "to": last, "dryRun": dry_run}
    if overlap:
        body["overlap"] = overlap
    done = _call(url, api_key, "POST", _path(schedule, "/backfill"), json=body)
    if as_json:
        print_json(done)
        return
    print_table(done["ticks"], [("scheduledAt", "TICK"), ("outcome", "OUTCOME"),
                                ("runId", "RUN")])


@command.command("preview")
@click.argument("schedule")
@click.option("--count", type=click.IntRange(1, vocabulary.MAX_PREVIEW), default=10,
              show_default=True)
@_json_option
@remote_options(required=True)
def preview(schedule: str, count: int, as_json: bool, url: str, api_key: str | None) -> None:
    """The next fire times, in UTC and in the schedule's zone."""
    done = _call(url, api_key, "GET", _path(schedule, "/preview"), params={"count": count})
    if as_json:
        print_json(done)
        return
    print_table(done["fireTimes"], [("scheduledAt", "UTC"), ("local", done["timezone"]),
                                    ("fireAt", "FIRES AT (JITTER)")])


@command.command("delete")
@click.argument("schedule")
@_json_option
@remote_options(required=True)
def delete(schedule: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Delete a schedule (its runs are kept)."""
    done = _call(url, api_key, "DELETE", _path(schedule))
    print_json(done) if as_json else click.echo(f"deleted {done['name']} ({done['id']})")

"""``workflow-studio deployments list|show|active``: read deployments from a worker."""

from __future__ import annotations

from typing import Any

import click

from workflow_studio.cli.output import print_json, print_table
from workflow_studio.cli.target import client, remote_options

_COLUMNS = [("version", "VERSION"), ("id", "ID"), ("state", "STATUS"),
            ("workflows", "WORKFLOWS"), ("createdAt", "CREATED"),
            ("createdByKeyId", "CREATED BY")]
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _row(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "state": "active" if d.get("active") else d.get("status"),
            "workflows": ", ".join(d.get("workflows") or [])}


def _show(d: dict[str, Any]) -> None:
    settings = d.get("settings") or {}
    fields = [
        ("id", d["id"]), ("version", d["version"]),
        ("status", "active" if d.get("active") else d.get("status")),
        ("workflows", ", ".join(d.get("workflows") or []) or "-"),
        ("steps", ", ".join(d.get("steps") or []) or "-"),
        ("artifact", f"{d.get('artifactSize')} bytes, sha256 {d.get('artifactSha256')}"),
        ("python", d.get("pythonVersion")), ("built", d.get("builtAt")),
        ("created", f"{d.get('createdAt')} by {d.get('createdByKeyId')}"),
        ("activated", f"{d.get('activatedAt')} by {d.get('activatedByKeyId')}"
         if d.get("activatedAt") else "never"),
        ("concurrency", settings.get("concurrency") or "worker default"),
        ("step timeout", settings.get("stepTimeout") or "step default"),
        ("retries", settings.get("defaultRetries")),
        ("secrets", ", ".join(f"{x['name']} (as env)" if x.get("asEnv") else x["name"]
                              for x in d.get("secrets") or []) or "-"),
        ("packages", ", ".join(f"{x['name']} {x['version']}"
                               for x in d.get("distributions") or []) or "-"),
    ]
    if "previousDeploymentId" in d:
        fields.append(("previous", d.get("previousDeploymentId") or "-"))
    for name, value in fields:
        click.echo(f"{name + ':':14}{value}")


@click.group("deployments")
def command() -> None:
    """List and inspect deployments on a worker."""


@command.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Most deployments to show on this page.")
@click.option("--cursor", help="Continue after this cursor (from a previous --json page).")
@_json_option
@remote_options(required=True)
def list_(limit: int, cursor: str | None, as_json: bool, url: str,
          api_key: str | None) -> None:
    """List deployments, newest first."""
    page = client(url, api_key).list_deployments(cursor=cursor, limit=limit)
    if as_json:
        print_json(page)
        return
    print_table([_row(d) for d in page["data"]], _COLUMNS)
    if page.get("hasMore"):
        click.echo(f"(more: --cursor {page['cursor']})")


@command.command("show")
@click.argument("deployment_id")
@_json_option
@remote_options(required=True)
def show(deployment_id: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Show one deployment: digests, workflows, settings, who created and activated it."""
    found = client(url, api_key).get_deployment(deployment_id)
    print_json(found) if as_json else _show(found)


@command.command("active")
@_json_option
@remote_options(required=True)
def active(as_json: bool, url: str, api_key: str | None) -> None:
    """Show the active deployment (exit 1 with the runbook action when none is active)."""
    found = client(url, api_key).get_active_deployment()
    print_json(found) if as_json else _show(found)

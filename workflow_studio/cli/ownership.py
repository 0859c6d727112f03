"""``workflow-studio compute validate-ownership``: the post-deploy routing check.

Prints one row per check (check, status, detail, action) and an overall
``ownership status: pass|fail`` line. Without ``--strict`` the exit status is 0 even when a
check fails (the table says so); with ``--strict`` any failed check exits 1, for runbooks and
CI gates. An unreachable worker or app is a failed row, never a traceback.
"""

from __future__ import annotations

import sys

import click

from workflow_studio.cli.output import print_json, print_table
from workflow_studio.cli.target import remote_options
from workflow_studio.integrations.ownership import OwnershipReport, validate_ownership

COLUMNS = (("check", "CHECK"), ("status", "STATUS"), ("detail", "DETAIL"),
           ("action", "ACTION"))


def render(report: OwnershipReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    print_table([c.to_json() for c in report.checks], COLUMNS)
    failed = len(report.failed)
    click.echo(f"\nownership status: {report.status}"
               + (f" ({failed} of {len(report.checks)} checks failed)" if failed else ""))


@click.command("validate-ownership")
@remote_options(required=True)
@click.option("--app-url", help="Base URL of the application, to check its diagnostics "
                                "route (/.well-known/workflow/v1/diagnostics).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any check fails.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=10.0,
              show_default=True, help="Seconds to wait for each request.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def validate_ownership_command(url: str, api_key: str | None, app_url: str | None,
                               strict: bool, timeout: float, as_json: bool) -> None:
    """Check that the worker owns workflow execution and the app routes to it.

    Checks: the worker answers /v1/health; the API key is valid and has trigger:write and
    runs:read (or admin); a deployment is active; and, with --app-url, the app's diagnostics
    show WORKFLOW_TARGET_WORLD=workflow-studio/world-remote, a worker URL and key, and no
    unexpected local callback hits. Failed rows carry the runbook's action.
    """
    if not api_key:
        raise click.UsageError("--api-key (or WORKFLOW_COMPUTE_API_KEY) is required")
    report = validate_ownership(url, api_key, app_url, timeout=timeout)
    render(report, as_json)
    if strict and report.failed:
        sys.exit(1)


command = validate_ownership_command

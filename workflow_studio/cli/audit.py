"""``workflow-studio audit``: what happened under a correlation id."""

from __future__ import annotations

import click

from workflow_studio.cli.output import print_json, print_table
from workflow_studio.cli.target import client, local_database, remote_options
from workflow_studio.compute.clock import iso
from workflow_studio.storage import audit as audit_repo

_COLUMNS = [("createdAt", "TIME"), ("method", "METHOD"), ("path", "PATH"),
            ("status", "STATUS"), ("keyId", "KEY"), ("runId", "RUN"),
            ("correlationId", "CORRELATION ID")]


@click.command("audit")
@click.option("--correlation-id", help="Only entries with this correlation id.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@remote_options()
@click.pass_context
def command(ctx: click.Context, correlation_id: str | None, limit: int, as_json: bool,
            url: str | None, api_key: str | None) -> None:
    """Show audit entries, oldest first."""
    if url:
        rows = client(url, api_key).list_audit(correlation_id, limit=limit)["data"]
    else:
        raw = audit_repo.query(local_database(ctx).connection(),
                               correlation_id=correlation_id, limit=limit)
        rows = [{"createdAt": iso(r["created_at"]), "method": r["method"], "path": r["path"],
                 "status": r["status"], "keyId": r["key_id"], "runId": r["run_id"],
                 "correlationId": r["correlation_id"], "metadata": r["metadata"]} for r in raw]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, _COLUMNS)

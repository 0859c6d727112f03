"""How the CLI talks to people: one-line errors, runbook actions, tables and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from workflow_studio.client.errors import ComputeClientError


def fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"workflow-studio: error: {message}", err=True)
    sys.exit(status)


def note(message: str) -> None:
    """A hint on stderr that does not stop the command (stdout stays the command's)."""
    click.echo(f"workflow-studio: note: {message}", err=True)


def report_client_error(exc: ComputeClientError) -> NoReturn:
    """Print the worker's error as the runbook does: symptom, then action."""
    click.echo(f"workflow-studio: error: {exc}", err=True)
    if exc.action:
        click.echo(f"  action: {exc.action}", err=True)
    if exc.correlation_id:
        click.echo(f"  correlation id: {exc.correlation_id}", err=True)
    sys.exit(1)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Rows as aligned columns; ``columns`` is (key, heading) pairs."""
    cells = [[h for _, h in columns]] + [
        ["" if r.get(k) is None else str(r.get(k)) for k, _ in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

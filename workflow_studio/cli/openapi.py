"""``workflow-studio openapi``: the worker's OpenAPI 3.1 document, as ``GET /v1/openapi.json``
serves it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from workflow_studio.config.settings import Settings
from workflow_studio.worker.app import create_app
from workflow_studio.worker.openapi import build_document


def standalone_document() -> dict[str, Any]:
    """The document without a running worker. The routes do not depend on settings, so an
    app on the defaults, never connected to its database, publishes the same document."""
    with tempfile.TemporaryDirectory(prefix="workflow-studio-openapi-") as scratch:
        app = create_app(Settings(base_dir=scratch), sync_seeds=False)
        try:
            return build_document(app)
        finally:
            app.extensions["workflow_studio"].db.close()


@click.command("openapi")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the document to FILE instead of printing it.")
def command(output: Path | None) -> None:
    """Print the worker's OpenAPI 3.1 document (the API contract) as JSON."""
    text = json.dumps(standalone_document(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote the OpenAPI document to {output}.", err=True)

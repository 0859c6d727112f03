"""The ``workflow-studio`` command: one click subgroup per area, one module per subgroup.

``main`` turns usage errors and config errors into one line on stderr with exit status 2,
and worker errors into the runbook's symptom and action with exit status 1.
"""

from __future__ import annotations

import sys

import click

from workflow_studio.cli import (
    audit,
    deploy,
    deployments,
    keys,
    openapi,
    ownership,
    runs,
    schedules,
    secrets,
    worker,
)
from workflow_studio.cli.output import fail
from workflow_studio.client.errors import ComputeClientError
from workflow_studio.config.settings import ConfigError
from workflow_studio.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="workflow-studio")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              envvar="WORKFLOW_STUDIO_CONFIG",
              help="Config file (default: ./workflow_config.py if present).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Workflow Studio: durable Python workflows on a self-hosted compute worker.

    Run `workflow-studio COMMAND --help` for each command's options.
    """
    ctx.obj = {"config_path": config_path}


for module in (worker, keys, audit, deployments, runs, schedules, openapi, secrets):
    cli.add_command(module.command)
for command in deploy.commands:
    cli.add_command(command)
deploy.compute.add_command(ownership.command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        result = cli.main(args=argv, prog_name="workflow-studio", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        fail(" ".join(f"{exc.format_message()}{hint}".split()), 2)
    except click.Abort:
        fail("aborted", 130)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except ConfigError as exc:
        fail(str(exc), 2)
    except ComputeClientError as exc:
        from workflow_studio.cli.output import report_client_error
        report_client_error(exc)
    sys.exit(result if isinstance(result, int) else 0)

"""Build, upload, activate and roll back: ``build``, ``deploy``, ``rollback``, ``compute ...``.

``deploy`` is the one-shot operator command (build + upload + activate); ``compute build``,
``compute deploy`` and ``compute activate`` are the same three stages run separately, for
pipelines that build in one job and release in another.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from workflow_studio.builder.project import (
    ARTIFACT_NAME,
    DEFAULT_OUT,
    MANIFEST_NAME,
    BuildError,
    BuildResult,
    build_project,
)
from workflow_studio.cli.output import fail, print_json
from workflow_studio.cli.target import client, remote_options
from workflow_studio.client import ComputeClient

EXIT_BUILD_FAILED = 2

_out_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False),
    help=f"Directory for {ARTIFACT_NAME} and {MANIFEST_NAME} "
         f"(default: {DEFAULT_OUT} beside workflow_config.py).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _remember_no_deps(ctx: click.Context, _: Any, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["no_deps"] = True


_no_deps_option = click.option(
    "--no-deps", is_flag=True, expose_value=False, callback=_remember_no_deps,
    help="Ship none of the `requirements`: the worker's own packages serve the imports.")


def _settings_options(fn: Any) -> Any:
    fn = click.option("--step-timeout", type=click.FloatRange(0, min_open=True),
                      help="Default step timeout in seconds for this deployment.")(fn)
    return click.option("--concurrency", type=click.IntRange(1),
                        help="Most runs of this deployment executing at once.")(fn)


def run_build(ctx: click.Context, out_dir: str | None, quiet: bool = False) -> BuildResult:
    try:
        result = build_project((ctx.obj or {}).get("config_path"), out_dir,
                               no_deps=bool((ctx.obj or {}).get("no_deps")))
    except BuildError as exc:
        fail(f"build failed: {exc}", EXIT_BUILD_FAILED)
    if not quiet:
        m = result.manifest
        click.echo(f"Built {result.artifact_path} ({len(m.files)} file(s), "
                   f"{m.artifact_size} bytes, sha256 {m.artifact_sha256[:12]})", err=True)
        click.echo(f"  workflows: {', '.join(m.workflows)}", err=True)
        click.echo(f"  steps:     {', '.join(m.steps) or '-'}", err=True)
        click.echo(f"  manifest:  {result.manifest_path}", err=True)
    return result


def upload(remote: ComputeClient, manifest: Path, artifact: Path, concurrency: int | None,
           step_timeout: float | None) -> dict[str, Any]:
    """Upload with a progress bar on stderr; return the created deployment."""
    total = artifact.stat().st_size + manifest.stat().st_size
    with click.progressbar(length=total, label="Uploading", file=sys.stderr,
                           show_pos=False, show_percent=True) as bar:
        seen = [0]

        def progress(sent: int, size: int) -> None:
            step = min(sent, total) - seen[0]
            if step > 0:
                bar.update(step)
                seen[0] += step

        return remote.create_deployment(manifest, artifact, concurrency=concurrency,
                                        step_timeout=step_timeout, progress=progress)


def summary(deployment: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(deployment)
        return
    state = "active" if deployment.get("active") else deployment.get("status", "")
    click.echo(f"Deployment {deployment['id']} version {deployment['version']} ({state})")
    click.echo(f"  workflows: {', '.join(deployment.get('workflows') or []) or '-'}")


@click.command("build")
@_out_option
@_no_deps_option
@click.pass_context
def build(ctx: click.Context, out_dir: str | None) -> None:
    """Build the deployment artifact from workflow_config.py.

    Imports the configured `workflows` packages in a clean subprocess, collects their
    @workflow and @step registrations, and writes a reproducible artifact.tar.gz plus
    manifest.json. An import error is reported with its file and line (exit status 2).
    """
    result = run_build(ctx, out_dir, quiet=True)
    m = result.manifest
    click.echo(f"Built {result.artifact_path} ({len(m.files)} file(s), {m.artifact_size} bytes)")
    click.echo(f"  sha256:    {m.artifact_sha256}")
    click.echo(f"  workflows: {', '.join(m.workflows)}")
    click.echo(f"  steps:     {', '.join(m.steps) or '-'}")
    click.echo(f"  manifest:  {result.manifest_path}")


@click.command("deploy")
@_no_deps_option
@remote_options(required=True)
@click.option("--no-activate", is_flag=True,
              help="Upload only; activate later with `compute activate` or `rollback`.")
@_settings_options
@_out_option
@_json_option
@click.pass_context
def deploy(ctx: click.Context, url: str, api_key: str | None, no_activate: bool,
           concurrency: int | None, step_timeout: float | None, out_dir: str | None,
           as_json: bool) -> None:
    """Build, upload and activate the project on a worker.

    The worker verifies the artifact against its manifest and, on activation, proves it
    imports before switching the active pointer. Worker errors print the runbook's action.
    """
    remote = client(url, api_key)
    result = run_build(ctx, out_dir)
    created = upload(remote, result.manifest_path, result.artifact_path, concurrency,
                     step_timeout)
    click.echo(f"Uploaded deployment {created['id']} (version {created['version']})", err=True)
    if not no_activate:
        created = remote.activate_deployment(created["id"])
    summary(created, as_json)


@click.command("rollback")
@remote_options(required=True)
@click.option("--deployment-id", help="Deployment to activate (default: the one that was "
                                      "active before the current one).")
@_json_option
def rollback(url: str, api_key: str | None, deployment_id: str | None, as_json: bool) -> None:
    """Switch the active pointer back to an earlier deployment.

    Without --deployment-id, returns to the previously active deployment. The target is
    proven importable first; if that fails, the pointer stays where it is.
    """
    remote = client(url, api_key)
    if not deployment_id:
        active = remote.get_active_deployment()
        deployment_id = active.get("previousDeploymentId")
        if not deployment_id:
            fail(f"no previously active deployment recorded (active: {active['id']} version "
                 f"{active['version']}); pass --deployment-id (see `deployments list`)")
    summary(remote.activate_deployment(deployment_id), as_json)


@click.group("compute")
def compute() -> None:
    """Lower-level deployment stages: build, deploy (upload) and activate separately."""


@compute.command("build")
@_out_option
@_no_deps_option
@click.pass_context
def compute_build(ctx: click.Context, out_dir: str | None) -> None:
    """Build artifact.tar.gz and manifest.json (same as `workflow-studio build`)."""
    ctx.invoke(build, out_dir=out_dir)


@compute.command("deploy")
@remote_options(required=True)
@_settings_options
@_out_option
@_json_option
@click.pass_context
def compute_deploy(ctx: click.Context, url: str, api_key: str | None,
                   concurrency: int | None, step_timeout: float | None, out_dir: str | None,
                   as_json: bool) -> None:
    """Upload a built artifact without activating it (build first with `compute build`)."""
    remote = client(url, api_key)
    if out_dir:
        folder = Path(out_dir)
    else:
        from workflow_studio.builder.project import project_modules
        try:
            folder = project_modules((ctx.obj or {}).get("config_path"))[0] / DEFAULT_OUT
        except BuildError as exc:
            fail(str(exc), EXIT_BUILD_FAILED)
    manifest, artifact = folder / MANIFEST_NAME, folder / ARTIFACT_NAME
    if not manifest.is_file() or not artifact.is_file():
        fail(f"no {ARTIFACT_NAME} and {MANIFEST_NAME} in {folder}; run `workflow-studio "
             "compute build` first", EXIT_BUILD_FAILED)
    created = upload(remote, manifest, artifact, concurrency, step_timeout)
    summary(created, as_json)
    if not as_json:
        click.echo(f"Activate with: workflow-studio compute activate --deployment-id "
                   f"{created['id']}")


@compute.command("activate")
@remote_options(required=True)
@click.option("--deployment-id", required=True, help="The deployment to make active.")
@_json_option
def compute_activate(url: str, api_key: str | None, deployment_id: str, as_json: bool) -> None:
    """Prove a deployment imports on the worker, then make it the active one."""
    summary(client(url, api_key).activate_deployment(deployment_id), as_json)


commands = (build, deploy, rollback, compute)

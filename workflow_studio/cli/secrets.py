"""``workflow-studio secrets set|list|delete``: named secrets for deployed steps, locally or
on a remote worker.

A value is never an argument (it would sit in the shell's history and in ``ps``): ``set``
reads it from ``--from-file``, from stdin, or from a hidden prompt on a terminal, and no
command ever prints one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import click

from workflow_studio.cli.output import fail, print_json, print_table
from workflow_studio.cli.target import client, local_database, local_settings, remote_options
from workflow_studio.compute.manifest import SECRET_NAME
from workflow_studio.storage import deployments as deployments_repo
from workflow_studio.storage import secrets as repo
from workflow_studio.worker.routes.secrets import secret_json

_COLUMNS = [("name", "NAME"), ("version", "VERSION"), ("updatedAt", "UPDATED"),
            ("updatedByKeyId", "UPDATED BY"), ("createdAt", "CREATED"),
            ("declaredByActive", "ACTIVE DEPLOYMENT USES IT"), ("readable", "READABLE")]


def _checked(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise click.BadParameter("1-128 letters, digits and underscores, not starting with a "
                                 "digit", param_hint="NAME")
    return name


def _value(from_file: str | None) -> str:
    """The value from the file, stdin or a hidden prompt; one final newline is dropped
    (``echo`` and editors add it)."""
    if from_file is not None:
        try:
            with open(from_file, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            fail(f"--from-file {from_file}: cannot be read ({exc.strerror})")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"--from-file {from_file}: not UTF-8 text")
    elif sys.stdin.isatty():
        text = click.prompt("Value", hide_input=True, confirmation_prompt=True,
                            prompt_suffix=": ", err=True)
    else:
        text = sys.stdin.read()
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text:
        fail("the value is empty")
    if len(text) > repo.MAX_VALUE_CHARS:
        fail(f"the value is longer than {repo.MAX_VALUE_CHARS} characters")
    return text


@contextmanager
def _local(ctx: click.Context) -> Iterator[Any]:
    """A connection to the local worker database, closed with the command."""
    db = local_database(ctx)
    try:
        yield db.connection()
    finally:
        db.close()


def _local_declared(conn: Any) -> set[str]:
    active = deployments_repo.active_secret_names(conn)
    return set(active[2]) if active is not None else set()


@click.group("secrets")
def command() -> None:
    """Set, list and delete the named secrets deployed steps read with ws.secret(NAME)."""


@command.command("set")
@click.argument("name")
@click.option("--from-file", type=click.Path(dir_okay=False),
              help="Read the value from this file (default: stdin, or a hidden prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print the secret's record as JSON.")
@remote_options()
@click.pass_context
def set_(ctx: click.Context, name: str, from_file: str | None, as_json: bool,
         url: str | None, api_key: str | None) -> None:
    """Create NAME or rotate its value; steps that start afterwards read the new one."""
    name = _checked(name)
    value = _value(from_file)
    if url:
        record = client(url, api_key).request("PUT", f"/v1/secrets/{quote(name, safe='')}",
                                              json={"value": value})
    else:
        with _local(ctx) as conn:
            box = repo.box_for(conn, local_settings(ctx).secret_key)
            row, _ = repo.put(conn, box, name, value, None)
            record = secret_json(row, box.key_id, _local_declared(conn))
    if as_json:
        print_json(record)
        return
    click.echo(f"Set secret {record['name']} (version {record['version']}).")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@remote_options()
@click.pass_context
def list_(ctx: click.Context, as_json: bool, url: str | None, api_key: str | None) -> None:
    """List the secrets: names, versions, who set them when; never a value."""
    if url:
        rows = client(url, api_key).request("GET", "/v1/secrets")["data"]
    else:
        with _local(ctx) as conn:
            key_id = repo.box_for(conn, local_settings(ctx).secret_key).key_id
            declared = _local_declared(conn)
            rows = [secret_json(r, key_id, declared) for r in repo.list_secrets(conn)]
    if as_json:
        print_json(rows)
        return
    print_table([{**r, "declaredByActive": "yes" if r["declaredByActive"] else "no",
                  "readable": "yes" if r["readable"] else "no (set it again)"} for r in rows],
                _COLUMNS)


@command.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Delete even when the active deployment declares it (its steps then fail "
                   "when they read it).")
@remote_options()
@click.pass_context
def delete(ctx: click.Context, name: str, force: bool, url: str | None,
           api_key: str | None) -> None:
    """Delete NAME (refused while the active deployment declares it, unless --force)."""
    name = _checked(name)
    if url:
        client(url, api_key).request("DELETE", f"/v1/secrets/{quote(name, safe='')}",
                                     params={"force": "true"} if force else None)
    else:
        try:
            with _local(ctx) as conn:
                row = repo.delete(conn, name, force=force)
        except repo.SecretInUse as exc:
            fail(f"{exc}; activate a deployment that does not declare it first, or use "
                 "--force")
        if row is None:
            fail(f"no secret named {name!r}")
    click.echo(f"Deleted secret {name}.")

"""``workflow-studio keys create|list|revoke``: locally or against a remote worker."""

from __future__ import annotations

import click

from workflow_studio.cli.output import fail, print_json, print_table
from workflow_studio.cli.target import client, local_database, remote_options
from workflow_studio.compute.scopes import ALL_SCOPES
from workflow_studio.storage import keys as keys_repo
from workflow_studio.worker.routes.keys import key_json

_COLUMNS = [("id", "ID"), ("name", "NAME"), ("prefix", "PREFIX"), ("scopes", "SCOPES"),
            ("createdAt", "CREATED"), ("lastUsedAt", "LAST USED"), ("revokedAt", "REVOKED")]


@click.group("keys")
def command() -> None:
    """Create, list and revoke API keys."""


@command.command("create")
@click.option("--name", required=True, help="A label for the key (who or what uses it).")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(ALL_SCOPES), help="A scope to grant; repeat for several.")
@click.option("--rate-limit", type=click.IntRange(0), help="Requests per minute (0 = none).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@remote_options()
@click.pass_context
def create(ctx: click.Context, name: str, scopes: tuple[str, ...], rate_limit: int | None,
           as_json: bool, url: str | None, api_key: str | None) -> None:
    """Create a key; its secret is printed once and never stored."""
    if url:
        record = client(url, api_key).create_key(name, list(scopes), rate_limit)
    else:
        conn = local_database(ctx).connection()
        with conn.transaction():
            row, secret = keys_repo.create(conn, name, scopes, rate_limit_per_minute=rate_limit,
                                           source="cli")
        record = {**key_json(row), "secret": secret}
    if as_json:
        print_json(record)
        return
    click.echo(f"Created key {record['id']} ({record['name']}) with scopes "
               f"{' '.join(record['scopes'])}.")
    click.echo("Secret (shown only once, store it now):")
    click.echo(f"  {record['secret']}")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@remote_options()
@click.pass_context
def list_(ctx: click.Context, as_json: bool, url: str | None, api_key: str | None) -> None:
    """List keys (never their secrets)."""
    if url:
        rows = client(url, api_key).list_keys()["data"]
    else:
        rows = [key_json(r) for r in keys_repo.list_keys(local_database(ctx).connection())]
    if as_json:
        print_json(rows)
        return
    print_table([{**r, "scopes": " ".join(r["scopes"])} for r in rows], _COLUMNS)


@command.command("revoke")
@click.argument("key_id")
@remote_options()
@click.pass_context
def revoke(ctx: click.Context, key_id: str, url: str | None, api_key: str | None) -> None:
    """Revoke KEY_ID; requests with it get 401 from then on."""
    if url:
        client(url, api_key).revoke_key(key_id)
    elif keys_repo.revoke(local_database(ctx).connection(), key_id) is None:
        fail(f"no API key with id {key_id!r}")
    click.echo(f"Revoked {key_id}.")

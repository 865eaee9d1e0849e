"""`flask --app app api …`: the city administrator's machine clients from the command line."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from app import jobs
from app.extensions import db
from app.models import ApiClient, District, School

from .clients import ClientError, all_clients, create_client, revoke

api_cli = AppGroup("api", help="Machine clients of the API (/api/v1).")


@api_cli.command("create-client")
@click.argument("name")
@click.option("--district", "district_code", help="District code: the client sees this district only.")
@click.option("--school", "school_code", help="School code: the client sees this school only.")
@click.option("--write", is_flag=True, help="Allow the write endpoints (roster upsert).")
@click.option(
    "--days", type=click.IntRange(1, 730), default=365, show_default=True, help="Days until it expires."
)
def create_client_command(name, district_code, school_code, write, days):
    """Create a client and print its token (shown this once only)."""
    if district_code and school_code:
        raise click.UsageError("give --district or --school, not both")
    district_id = school_id = None
    if district_code:
        district_id = db.session.scalar(sa.select(District.id).where(District.code == district_code))
        if district_id is None:
            raise click.BadParameter(f"no district with code {district_code}", param_hint="--district")
    if school_code:
        school_id = db.session.scalar(sa.select(School.id).where(School.code == school_code))
        if school_id is None:
            raise click.BadParameter(f"no school with code {school_code}", param_hint="--school")
    try:
        client, token = create_client(
            name, district_id=district_id, school_id=school_id, can_write=write, days=days
        )
    except ClientError as err:
        raise click.UsageError(str(err)) from None
    jobs.commit()
    click.echo(f"client {client.id} expires {client.expires_at:%Y-%m-%d}")
    click.echo(token)


@api_cli.command("revoke-client")
@click.argument("client_id", type=int)
def revoke_client_command(client_id):
    """Revoke a client: its token stops working at once."""
    client = db.session.get(ApiClient, client_id)
    if client is None:
        raise click.BadParameter(f"no client {client_id}", param_hint="CLIENT_ID")
    revoke(client)
    jobs.commit()
    click.echo(f"client {client.id} revoked")


@api_cli.command("list-clients")
def list_clients_command():
    """List the clients: id, name, scope, write, expiry, revoked, calls."""
    for c in all_clients():
        scope = (
            f"school {c.scope_school_id}"
            if c.scope_school_id
            else (f"district {c.scope_district_id}" if c.scope_district_id else "city")
        )
        state = "revoked" if c.revoked_at else f"expires {c.expires_at:%Y-%m-%d}"
        click.echo(
            f"{c.id}\t{c.name}\t{scope}\t{'write' if c.can_write else 'read'}\t{state}\t{c.calls} calls"
        )

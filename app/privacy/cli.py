"""`flask --app app privacy …`: personal-data housekeeping (docs/privacy.md)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import jobs
from ..models import utcnow
from . import retention

privacy_cli = AppGroup("privacy", help="Personal data: retention.")


@privacy_cli.command("retention")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def retention_command(dry_run: bool) -> None:
    """Delete data kept past its retention period, and print what and why."""
    removals = retention.run(utcnow(), dry_run)
    if dry_run:
        jobs.rollback()
    else:
        jobs.commit()
    click.echo("Dry run: nothing removed." if dry_run else "Removed:")
    for r in removals:
        click.echo(f"  {r.count:>8}  {r.what}" + (f" ({r.why})" if r.why else ""))

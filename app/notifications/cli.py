"""`flask --app app notifications relay`: re-enqueue deliveries no job will pick up (see relay.py)."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

notifications_cli = AppGroup("notifications", help="Notification outbox.")


@notifications_cli.command("relay")
@click.option(
    "--lease-seconds",
    type=float,
    default=None,
    help="Claims older than this are a dead worker's (default 120).",
)
@click.option(
    "--stale-seconds",
    type=float,
    default=None,
    help="Re-enqueue due rows not handed to a job for this long (default 300).",
)
@click.option("--loop", is_flag=True, help="Run forever, one pass every --interval seconds.")
@click.option("--interval", type=float, default=30.0, show_default=True)
def relay_command(lease_seconds, stale_seconds, loop, interval):
    """Re-queue stuck deliveries, send due deferred messages and digests."""
    from ..extensions import db
    from .relay import relay

    while True:
        try:
            result = relay(lease_seconds=lease_seconds, stale_seconds=stale_seconds)
        finally:
            db.session.remove()
        click.echo("released {released}, requeued {requeued}, digests {digests}".format(**result))
        if not loop:
            return
        time.sleep(interval)

"""`flask --app app notifications relay`: one relay pass, or a loop of them (see app/jobs.py
and relay.py): the platform outbox's jobs and the notification deliveries no job will send."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .. import jobs
from ..extensions import db
from ..workers import RelayLoop

notifications_cli = AppGroup("notifications", help="Notification outbox.")


@notifications_cli.command("relay")
@click.option(
    "--lease-seconds",
    type=float,
    default=None,
    help="Claims older than this are a dead worker's (default NOTIFY_LEASE_SECONDS, 30).",
)
@click.option(
    "--stale-seconds",
    type=float,
    default=None,
    help="Re-enqueue due rows not handed to a job for this long (default 300).",
)
@click.option("--loop", is_flag=True, help="Run forever, one pass every --interval seconds.")
@click.option(
    "--interval", type=float, default=None, help="Seconds between passes (default JOB_RELAY_INTERVAL, 10)."
)
def relay_command(lease_seconds, stale_seconds, loop, interval):
    """Re-queue stuck deliveries and jobs, send due deferred messages and digests."""
    overrides = {
        k: v for k, v in (("lease_seconds", lease_seconds), ("stale_seconds", stale_seconds)) if v is not None
    }
    options = {"options": {"notifications": overrides}}
    if loop:
        interval = interval or current_app.config["JOB_RELAY_INTERVAL"]
        # Never exits on its own: a failed pass (Redis or the database down) is retried.
        RelayLoop(current_app._get_current_object(), interval, report=_echo, **options).run()
        return
    try:
        _echo(jobs.relay_all(**options))
    except jobs.RelayError as err:
        raise click.ClickException(f"relay pass failed: {err}") from err
    finally:
        db.session.remove()


def _echo(result: dict) -> None:
    n = result.get("notifications", {"released": 0, "requeued": 0, "digests": 0})
    click.echo(
        "released {released}, requeued {requeued}, digests {digests}".format(**n)
        + ", jobs {}".format(result.get("jobs", {}).get("handed", 0))
    )


@notifications_cli.command("vapid-keys")
def vapid_keys_command():
    """Print a new VAPID key pair for Web Push (set VAPID_PRIVATE_KEY to the private half)."""
    from .push import generate_vapid_keys  # lazy: the crypto stack only for this command

    private, public = generate_vapid_keys()
    click.echo(f"VAPID_PRIVATE_KEY={private}")
    click.echo(f"# public key (browsers subscribe with it; derived from the private key): {public}")

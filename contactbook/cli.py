"""`flask --app app contactbook …` commands."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from app import jobs
from app.imports import echo_report

from .imports.classes import import_classes

contactbook_cli = AppGroup("contactbook", help="Electronic contact book.")


@contactbook_cli.command("import-classes")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_classes_command(path):
    """Import classes, pupils, guardians and teaching (classes.xlsx, docs/excel-formats.md).

    Exit 0 with `R rows checked in S s` and `created N, updated M, unchanged K`; exit 2 and the
    row-by-row report on stderr when rejected (nothing is stored).
    """
    report = import_classes(path, None)
    if report.ok:
        jobs.commit()
    else:
        jobs.rollback()
    with force_locale("en"):  # the report's format is a contract: English lines
        status = echo_report(report)
    if status:
        sys.exit(status)


@contactbook_cli.command("relay")
@click.option(
    "--stale",
    default=0,
    show_default=True,
    type=float,
    help="Only deliveries not handed to a job for this many seconds.",
)
def relay_command(stale):
    """Send what a Redis outage left unsent (run once Redis is back, or from cron).

    The contact book writes its notifications in the transaction of the change they announce;
    what a Redis outage leaves behind are deliveries and jobs no worker picked up. This runs one
    pass of the platform relay (the same as `flask --app app notifications relay --stale-seconds
    S`): it hands them to the workers, or sends them right here when REDIS_URL is not set.
    """
    try:
        result = jobs.relay_all(options={"notifications": {"stale_seconds": stale}})
    except jobs.RelayError as err:
        raise click.ClickException(f"relay pass failed: {err}") from err
    click.echo(
        "released {released}, requeued {requeued}, digests {digests}".format(**result["notifications"])
    )

"""`flask --app app contactbook …` commands."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from app import jobs

contactbook_cli = AppGroup("contactbook", help="Electronic contact book.")


@contactbook_cli.command("import-classes")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_classes_command(path):
    """Import classes, pupils, guardians and teaching (classes.xlsx, DESIGN §4b).

    Exit 0 and `created N, updated M, unchanged K` when imported; exit 2 and the row-by-row
    report on stderr when rejected (nothing is stored).
    """
    from .importers import import_classes

    with open(path, "rb") as fh:
        report = import_classes(fh)
    if not report.ok:
        jobs.rollback()
        with force_locale("en"):  # the report's format is a contract: English lines
            for problem in report.problems:
                click.echo(problem.line(), err=True)
        sys.exit(2)
    jobs.commit()
    click.echo(report.summary())


@contactbook_cli.command("relay")
@click.option(
    "--stale", default=0, show_default=True, type=float, help="Only notices older than this many seconds."
)
def relay_command(stale):
    """Send the contact book notices a Redis outage left unsent (run once Redis is back).

    Whole-class events (a class's grades published, …) become one notification per child in a
    job; when Redis was down at that moment the notice waits in the database. The next notice job
    picks such leftovers up by itself; this command sends them now, without Redis.
    """
    from .tasks import relay_notices

    click.echo(f"sent {relay_notices(stale)} pending notices")

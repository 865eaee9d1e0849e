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

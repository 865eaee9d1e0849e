"""`flask --app app admissions …` commands."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

admissions_cli = AppGroup("admissions", help="Entry-level admissions.")


@admissions_cli.command("allocate-file")
@click.argument("in_path", type=click.Path(dir_okay=False))
@click.argument("out_path", type=click.Path(dir_okay=False))
def allocate_file(in_path, out_path):
    """Run the pure allocator on an exchange-format file (no database needed)."""
    from .allocation_file import run_file

    sys.exit(run_file(in_path, out_path))

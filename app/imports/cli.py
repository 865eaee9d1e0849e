"""What an import command prints (docs/commands.md): the same lines for every kind of file."""

from __future__ import annotations

import click

from .report import ImportReport


def echo_report(report: ImportReport) -> int:
    """Print `report` as the import commands' contract says; the exit code to use (0 or 2).

    Accepted: `R rows checked in S s`, then `created N, updated M, unchanged K` (always English)
    on stdout. Rejected: one `row R, column C: problem` line per problem on stderr, in the
    current language, then `rejected: N problem(s); nothing was stored`."""
    if not report.ok:
        for problem in report.problems:
            click.echo(problem.line(), err=True)
        click.echo(f"rejected: {report.total_problems} problem(s); nothing was stored", err=True)
        return 2
    click.echo(f"{report.rows} rows checked in {report.seconds:.1f} s")
    click.echo(report.summary())
    return 0

"""`flask --app app admissions …` commands."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from app import jobs
from app.audit import audit
from app.imports import echo_report

from . import counters
from .allocation import run_file
from .freeze import scheduled_check
from .imports import import_workbook
from .offers import expire_offers as expire_overdue_offers

admissions_cli = AppGroup("admissions", help="Entry-level admissions.")


@admissions_cli.command("allocate-file")
@click.argument("in_path", type=click.Path(dir_okay=False))
@click.argument("out_path", type=click.Path(dir_okay=False))
def allocate_file(in_path, out_path):
    """Run the pure allocator on an exchange-format file (no database needed)."""
    sys.exit(run_file(in_path, out_path))


def _import(kind: str, path: str, lang: str) -> None:
    """Import a workbook (docs/excel-formats.md); exit 0 with `created N, updated M, unchanged K`
    last on stdout, or exit 2 with one `row R, column C: problem` line per problem on stderr
    (nothing stored)."""
    with force_locale(lang):
        report = import_workbook(kind, path)
        if report.ok:
            audit(
                "admissions.import.done",
                ("import", kind),
                kind=kind,
                rows=report.rows,
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
            )
        else:
            jobs.rollback()  # nothing of the file; the audit entry of the refusal is kept
            audit(
                "admissions.import.rejected",
                ("import", kind),
                kind=kind,
                rows=report.rows,
                problems=report.total_problems,
            )
        jobs.commit()
        status = echo_report(report)
    if status:
        sys.exit(status)


_lang = click.option(
    "--lang",
    type=click.Choice(["en", "vi"]),
    default="en",
    show_default=True,
    help="Language of the problem report.",
)
_file = click.argument("path", metavar="FILE.xlsx", type=click.Path(exists=True, dir_okay=False))


@admissions_cli.command("import-schools")
@_file
@_lang
def import_schools(path, lang):
    """Import schools.xlsx (sheet `schools`): upsert by school code."""
    _import("schools", path, lang)


@admissions_cli.command("import-catchments")
@_file
@_lang
def import_catchments(path, lang):
    """Import catchments.xlsx (sheet `catchments`): one line per school and ward or residential group."""
    _import("catchments", path, lang)


@admissions_cli.command("import-roster")
@_file
@_lang
def import_roster(path, lang):
    """Import roster.xlsx (sheet `roster`, the residency export): upsert by personal ID."""
    _import("roster", path, lang)


@admissions_cli.command("expire-offers")
def expire_offers():
    """Expire every offer not confirmed by its answer-by time (the seats are freed, families told).

    Run it from cron every few minutes: pages show such an offer as expired at once and refuse to
    confirm it, but no page writes; this command records the expiry, frees the seat and tells the
    family (running a later round also does it first, for its level and district)."""
    n = expire_overdue_offers()
    jobs.commit()
    click.echo(f"expired {n} offers")


@admissions_cli.command("freeze-entries")
def freeze_entries():
    """Publish the seed commitments, freeze the entry lists of closed windows, fetch due beacons.

    Run it from cron every few minutes (idempotent): before a window opens it publishes the SHA-256
    of each district's secret seed; once it has closed it freezes the anonymised entry list (version
    1), records any later change as a new public version, and fetches the beacon value from
    BEACON_URL when its round is due (docs/verification.md)."""
    counts = scheduled_check()
    jobs.commit()
    click.echo(
        f"commitments {counts['commitments']}, entry versions {counts['versions']}, beacon values {counts['beacons']}"
    )


@admissions_cli.command("counters")
@click.option("--fix", is_flag=True, help="Rewrite the counters that differ from the count from scratch.")
def check_counters(fix):
    """Compare the office's counters with a count from scratch of the applications, level by level,
    and the registration marks (the eligible list's) with the live applications.

    Prints one line per counter that drifted (and per level whose marks differ) and
    `levels N, drifted D` last; exit 1 when a counter
    drifted (after --fix they are repaired and the drift is still reported). Run it nightly."""
    drifted = 0
    levels = counters.level_ids()
    for level_id in levels:
        rows = counters.drift(level_id)
        for key, stored, counted in rows:
            click.echo(
                f"level {level_id} {key[1]} {key[2]} trial={key[3]} {key[4] or '-'} {key[5] or '-'}: "
                f"stored {stored} counted {counted}"
            )
        drifted += len(rows)
        if rows and fix:
            counters.recompute_for_season(level_id)
        missing, extra = counters.mark_drift(level_id)
        if missing or extra:
            click.echo(f"level {level_id} registration marks: missing {missing}, extra {extra}")
            drifted += missing + extra
            if fix:
                counters.rebuild_marks(level_id)
    if drifted:
        audit("admissions.counters.drift", None, drifted=drifted, fixed=bool(fix))
    jobs.commit()
    click.echo(f"levels {len(levels)}, drifted {drifted}")
    if drifted:
        sys.exit(1)

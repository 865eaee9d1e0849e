"""Excel imports of schools, catchments and the residency roster (formats: docs/excel-formats.md).

Each import reads one sheet, checks every row, and only if no row has a problem writes
everything in bulk — all or nothing. Existing records are matched by key (school code, personal
ID, catchment line) and the report counts `created N, updated M, unchanged K`. One module per
file kind; reading.py holds what they share, cells.py the cell checks of admissions' own columns.

Speed (150,000 roster rows): one pass over the cells, pure checks with cached place lookups,
existing keys loaded in a few batched queries, bulk INSERT/UPDATE in chunks; no query per row.

`import_workbook(kind, source, scope=...)` is the entry point; the caller commits (CLI, job).
From the web each kind runs as the platform's import job (app.imports): `import_kinds()` are
what admissions registers, `run_job` what such a job calls.
"""

from __future__ import annotations

import time

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.imports import ImportKind
from app.models import ImportJob
from app.xlsx import FileRejected

from . import catchments, roster, schools
from .places import Places
from .reading import COLUMNS, KINDS, SHEETS, Progress, ProgressFn, RowChecker, Sheet, match_headers
from .report import ImportReport, Problem

__all__ = [
    "COLUMNS",
    "KINDS",
    "SHEETS",
    "ImportReport",
    "Problem",
    "import_kinds",
    "import_workbook",
    "run_job",
    "match_headers",
]

_CHECKERS = {"schools": schools.check, "catchments": catchments.check, "roster": roster.check}


def import_workbook(
    kind: str, source, *, scope: int | None = None, progress: ProgressFn | None = None
) -> ImportReport:
    """Import `source` (a path or a binary file object) as `kind`; all or nothing.

    `scope`: a district id to which every row must belong (district officers), or None (city).
    `progress(phase, fraction)` is called while reading ("reading", 0..1) and before writing
    ("saving", 1.0). Writes are flushed, not committed: the caller commits, or rolls back.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    started = time.perf_counter()
    report = ImportReport(kind=kind)
    try:
        sheet = Sheet(kind, source)
    except FileRejected as err:
        report.problems = err.problems
        return report
    try:
        chk = RowChecker(sheet, report.problems)
        places = Places()
        prog = Progress(progress, sheet)
        try:
            rows = _CHECKERS[kind](sheet, chk, places, scope, prog)
        except FileRejected as err:
            report.problems[:] = err.problems
            return report
    finally:
        sheet.close()
    report.rows = len(rows)
    if not rows and not report.problems:
        report.problems.append(Problem(None, None, "no_rows"))
    if report.problems:
        report.seconds = time.perf_counter() - started
        return report
    prog.phase("saving", 1.0)
    if kind == "roster":
        if not roster.store(sheet, rows, report, places, scope, chk):
            report.created = report.updated = report.unchanged = 0
            report.seconds = time.perf_counter() - started
            return report
    else:
        places.create_pending()
        (schools.store if kind == "schools" else catchments.store)(sheet, rows, report)
    db.session.flush()
    report.seconds = time.perf_counter() - started
    return report


TITLES = {
    "schools": _l("Schools"),
    "catchments": _l("Catchments"),
    "roster": _l("Residency roster"),
}


def run_job(path: str, job: ImportJob, progress: ProgressFn) -> ImportReport:
    """An import job of one of admissions' kinds: the rows must be in the job's district."""
    return import_workbook(job.kind, path, scope=job.district_id, progress=progress)


def import_kinds() -> list[ImportKind]:
    """The kinds of file admissions imports from the web (registered by admissions.register)."""
    return [
        ImportKind(
            "admissions",
            kind,
            TITLES[kind],
            run_job,
            ImportReport,
            "admissions.import",
            {c.name: c.label for c in COLUMNS[kind]},
        )
        for kind in KINDS
    ]

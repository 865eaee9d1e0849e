"""Excel imports of the contact book: classes.xlsx (classes, class_sheet) and the grade sheets
teachers export and upload again (grade_sheet). Cell checks and problem codes: cells.

classes.xlsx from the web runs as the platform's import job (app.imports; `import_kinds()` is
what the contact book registers, `run_job` what the job calls); the command line runs it
directly. A grade sheet holds one class and one subject and is imported inside its request.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.imports import ImportKind, ProgressFn
from app.models import ImportJob, User

from .cells import Problem
from .class_sheet import PUPIL_COLUMNS, TEACHER_COLUMNS, ImportReport
from .classes import import_classes

__all__ = ["ImportReport", "import_classes", "import_kinds", "run_job"]


def run_job(path: str, job: ImportJob, progress: ProgressFn) -> ImportReport:
    """An import job of classes.xlsx, on behalf of the staff member who uploaded it: the rows may
    name only the schools that account manages now (nothing, if it was closed since)."""
    actor = db.session.get(User, job.user_id) if job.user_id is not None else None
    if actor is None or not actor.active:
        return ImportReport(problems=[Problem(None, None, "uploader_gone")])
    return import_classes(path, actor, progress=progress)


def import_kinds() -> list[ImportKind]:
    """The kinds of file the contact book imports from the web (registered by contactbook.register)."""
    labels = {c.name: c.label for c in (*PUPIL_COLUMNS, *TEACHER_COLUMNS)}
    return [
        ImportKind(
            "contactbook",
            "classes",
            _l("Classes, pupils and teachers"),
            run_job,
            ImportReport,
            "contactbook.import",
            labels,
        )
    ]

"""Spreadsheet plumbing for the contact book's imports and exports (DESIGN §4b).

The generic pieces — opening a workbook, mapping headers (English snake_case or the Vietnamese
label, compared without case, spacing or diacritics), cell checks, `row R, column C: problem`
reports, writing workbooks with formula-looking text escaped — live in `app.xlsx` (shared with
admissions; the two areas never import each other, DESIGN §1) and are re-exported here. This
module adds the contact book's own problem codes and a `Problem` that renders them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app import xlsx
from app.xlsx import (
    FORMULA_PREFIXES,
    GENDERS,
    YES_NO,
    CellError,
    Column,
    FileRejected,
    Row,
    a_date,
    check_cell,
    clean_text,
    code,
    email,
    escape_formula,
    find_sheet,
    gender,
    header_key,
    is_blank,
    new_workbook,
    open_workbook,
    person_name,
    phone,
    strip_diacritics,
    text,
    workbook_bytes,
    write_sheet,
    yes_no,
)

__all__ = [
    "FORMULA_PREFIXES",
    "GENDERS",
    "MAX_ROWS",
    "MESSAGES",
    "YES_NO",
    "CellError",
    "Column",
    "FileRejected",
    "Problem",
    "Row",
    "a_date",
    "check_cell",
    "clean_text",
    "code",
    "email",
    "escape_formula",
    "find_sheet",
    "gender",
    "header_key",
    "is_blank",
    "new_workbook",
    "open_workbook",
    "person_name",
    "phone",
    "read_sheet",
    "render_message",
    "strip_diacritics",
    "text",
    "workbook_bytes",
    "write_sheet",
    "yes_no",
]

MAX_ROWS = 50_000

MESSAGES = {
    **xlsx.MESSAGES,
    "class_name": _l("must start with the grade number, such as 1A or 6A1"),
    "class_grade_level": _l("grade %(grade)d is not taught at school %(code)s"),
    "school_scope": _l("school %(code)s is not one you manage"),
    "no_year": _l("there is no current academic year; ask the city administrator to set one"),
    "pupil_differs": _l("the same pupil is written differently in row %(first)d"),
    "teacher_differs": _l("the same teacher is written differently in row %(first)d"),
    "two_homerooms": _l("class %(class_name)s already has homeroom teacher %(email)s in row %(first)d"),
    "subject_or_homeroom": _l("give a subject, or mark the teacher as homeroom"),
    "phone_staff": _l("this phone number belongs to a staff account; give another guardian number"),
    "phone_taken": _l("this phone number belongs to another account"),
    "email_taken": _l("this email address belongs to another account"),
    "email_twice": _l("this email address is given for another phone number in row %(first)d"),
    "phone_twice": _l("this phone number is given for another teacher in row %(first)d"),
    "email_not_teacher": _l("this email address belongs to an account that is not a teacher"),
    "teacher_other_school": _l("this teacher works at another school"),
    # grade sheets
    "score": _l("must be a score from 0 to 10 with at most one decimal"),
    "whole_score": _l("must be a whole number from 0 to 10"),
    "mark": _l("must be one of: %(allowed)s"),
    "unknown_pupil": _l("no pupil with code %(code)s in this class"),
    "wrong_sheet": _l("this file is for %(found)s, not %(expected)s"),
    "grade_cell": "%(problem)s",
}


def render_message(code: str, params: dict | None = None) -> str:
    return xlsx.render_message(code, params, MESSAGES)


class Problem(xlsx.Problem):
    """One thing wrong (app.xlsx.Problem), its message from the contact book's own codes too."""

    messages = MESSAGES


def read_sheet(workbook, sheet: str, columns: tuple[Column, ...]) -> list[Row]:
    """app.xlsx.read_sheet with the contact book's row limit."""
    return xlsx.read_sheet(workbook, sheet, columns, max_rows=MAX_ROWS)

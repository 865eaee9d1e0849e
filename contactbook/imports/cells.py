"""Cell checks of the contact book's workbooks (classes.xlsx and grade sheets, docs/excel-formats.md).

The generic pieces (opening a workbook, mapping headers, checking a cell, `row R, column C:
problem` reports) are app.xlsx, shared with admissions; this module adds the contact book's own
problem codes, a `Problem` that renders them, its row limit and the checks of its own cells.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from app import xlsx
from app.xlsx import CellError, Column, Row

MAX_ROWS = 50_000

MESSAGES = {
    **xlsx.MESSAGES,
    "class_name": _l("must start with the grade number, such as 1A or 6A1"),
    "class_grade_level": _l("grade %(grade)d is not taught at school %(code)s"),
    "school_scope": _l("school %(code)s is not one you manage"),
    "uploader_gone": _l("the account that uploaded this file is closed; nothing was imported"),
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
    "kindergarten_subject": _l("kindergarten classes have no subjects: leave the subject blank"),
    # grade sheets
    "score": _l("must be a score from 0 to 10 with at most one decimal"),
    "whole_score": _l("must be a whole number from 0 to 10"),
    "mark": _l("must be one of: %(allowed)s"),
    "unknown_pupil": _l("no pupil with code %(code)s in this class"),
    "wrong_sheet": _l("this file is for %(found)s, not %(expected)s"),
    "grade_cell": "%(problem)s",
}


class Problem(xlsx.Problem):
    """One thing wrong (app.xlsx.Problem), its message from the contact book's own codes too."""

    messages = MESSAGES


def read_sheet(workbook, sheet: str, columns: tuple[Column, ...]) -> list[Row]:
    """app.xlsx.read_sheet with the contact book's row limit."""
    return xlsx.read_sheet(workbook, sheet, columns, max_rows=MAX_ROWS)


def cell(row: Row, name: str, check, problems: list[Problem], sheet: str, *, required: bool = True):
    """The checked value of one cell, or None with its problem added to `problems`."""
    value, dtype = row.get(name)
    try:
        xlsx.check_cell(value, dtype)
        if xlsx.is_blank(value):
            if required:
                raise CellError("required")
            return None
        return check(value, dtype)
    except CellError as err:
        problems.append(Problem(row.number, name, err.code, err.params, sheet=sheet))
        return None


_CLASS_NAME = re.compile(r"^(\d{1,2})[A-Za-z0-9.\-/]*$")
# Kindergarten (age 5, grade 0): MG5A, MG5-1, Lá 1, Lá A (the "leaf" class of a mầm non school).
_KINDERGARTEN_NAME = re.compile(r"^(MG5?|LÁ)[A-Z0-9.\-/]*$")


def class_name(value, dtype) -> tuple[str, int]:
    """A class name and its grade: '6a1' → ('6A1', 6); the name starts with a grade 1–12, or
    with MG / Lá for a kindergarten class (grade 0): 'mg5a' → ('MG5A', 0)."""
    name = xlsx.text(value, max_len=20).replace(" ", "").upper()
    if _KINDERGARTEN_NAME.match(name):
        return name, 0
    m = _CLASS_NAME.match(name)
    if not m or not 1 <= int(m.group(1)) <= 12:
        raise CellError("class_name")
    return name, int(m.group(1))

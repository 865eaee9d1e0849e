"""Spreadsheet plumbing for the contact book's imports and exports (DESIGN §4b).

Pure helpers: open a workbook, map headers (English snake_case or the Vietnamese label, compared
without case, spacing or diacritics), check cells, collect problems as `row R, column C: problem`,
and write workbooks with formula-looking text escaped.

The admissions area has its own copy of the same ideas (admissions/validation.py); the two areas
must not import each other (DESIGN §1). The English messages are the same msgids so that one
translation serves both; a later refactor can move the common part to app/.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from app.security import normalize_phone

log = logging.getLogger(__name__)

FORMULA_PREFIXES = ("=", "+", "-", "@")
_EXPORT_ESCAPE_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 50_000

MESSAGES = {
    # whole file
    "not_xlsx": _l("the file is not an Excel workbook (.xlsx) or cannot be read"),
    "missing_sheet": _l("the workbook has no sheet named %(sheet)s"),
    "missing_column": _l("the first row has no column %(column)s [%(label)s]"),
    "duplicate_column": _l("the first row names column %(column)s twice"),
    "no_rows": _l("the sheet has no data rows below the header row"),
    "too_many_rows": _l("the sheet has more than %(max)d data rows; split the file"),
    # cells
    "formula": _l("contains a spreadsheet formula; paste the values only"),
    "error_value": _l("contains a spreadsheet error value (such as #REF!)"),
    "required": _l("is required"),
    "number_cell": _l("must be a text cell; leading zeros lost (format the column as Text and re-enter it)"),
    "not_text": _l("must be text"),
    "formula_text": _l("must not start with =, +, - or @"),
    "too_long": _l("is longer than %(max)d characters"),
    "too_short": _l("is shorter than %(min)d characters"),
    "bad_name": _l("may contain only letters, spaces, dots, apostrophes and hyphens"),
    "bad_code": _l("may contain only letters, digits, dots, hyphens, underscores and slashes"),
    "phone": _l("is not a Vietnamese mobile number (10 digits starting with 03, 05, 07, 08 or 09)"),
    "date_format": _l("is not a date: use a date cell or dd/mm/yyyy"),
    "date_number": _l("is a number, not a date: format the cell as a date or type dd/mm/yyyy"),
    "date_invalid": _l("is not a real calendar date"),
    "date_future": _l("is in the future"),
    "date_too_old": _l("is before 1900"),
    "gender": _l("must be male or female (Nam, Nữ)"),
    "duplicate": _l("repeats the value of row %(first)d (each row must have its own key)"),
    "unknown_school": _l("no school with code %(code)s"),
    # contact book
    "email": _l("is not a valid email address"),
    "yes_no": _l("must be yes or no (có, không)"),
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
    "email_not_teacher": _l("this email address belongs to an account that is not a teacher"),
    "teacher_other_school": _l("this teacher works at another school"),
    "score": _l("must be a score from 0 to 10 with at most one decimal"),
    "whole_score": _l("must be a whole number from 0 to 10"),
    "mark": _l("must be one of: %(allowed)s"),
    "unknown_pupil": _l("no pupil with code %(code)s in this class"),
    "wrong_sheet": _l("this file is for %(found)s, not %(expected)s"),
    "grade_cell": "%(problem)s",
}


def render_message(code: str, params: dict | None = None) -> str:
    text = str(MESSAGES[code])
    return text % params if params else text


class CellError(Exception):
    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class Problem:
    """One thing wrong: `row` is the spreadsheet's 1-based row (None: the whole file/sheet)."""

    row: int | None
    column: str | None
    code: str
    params: dict = field(default_factory=dict)
    sheet: str | None = None

    def message(self) -> str:
        return render_message(self.code, self.params)

    def line(self) -> str:
        """`row R, column C: problem` in the current language, the sheet named after it."""
        if self.row is not None and self.column:
            text = str(_l("row %(row)d, column %(column)s: %(problem)s")) % {
                "row": self.row, "column": self.column, "problem": self.message()}
        elif self.row is not None:
            text = str(_l("row %(row)d: %(problem)s")) % {"row": self.row, "problem": self.message()}
        elif self.column:
            text = str(_l("column %(column)s: %(problem)s")) % {"column": self.column, "problem": self.message()}
        else:
            return str(_l("sheet %(sheet)s: %(problem)s")) % {"sheet": self.sheet, "problem": self.message()} \
                if self.sheet else self.message()
        if not self.sheet:
            return text
        # The line still starts with `row R, column C:` (the CLI contract); the sheet follows.
        return str(_l("%(line)s (sheet %(sheet)s)")) % {"line": text, "sheet": self.sheet}


class FileRejected(Exception):
    def __init__(self, *problems: Problem):
        super().__init__(problems[0].code if problems else "rejected")
        self.problems = list(problems)


# ----------------------------------------------------------------------------- text helpers

_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value)
    value = _BAD_CHARS.sub("", value)
    return " ".join(value.split())


def strip_diacritics(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def header_key(text: str) -> str:
    return re.sub(r"[\s_]+", " ", strip_diacritics(clean_text(text)).casefold()).strip()


def escape_formula(value):
    """Exports: text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_EXPORT_ESCAPE_PREFIXES):
        return "'" + value
    return value


# ----------------------------------------------------------------------------- columns, sheets


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    required: bool = True
    aliases: tuple[str, ...] = ()


def match_headers(columns: tuple[Column, ...], header_cells: list, sheet: str) -> dict[str, int]:
    keys: dict[str, str] = {}
    for col in columns:
        for alias in (col.name, col.label, *col.aliases):
            keys.setdefault(header_key(alias), col.name)
    index: dict[str, int] = {}
    problems = []
    for i, cell in enumerate(header_cells):
        if not isinstance(cell, str) or not cell.strip():
            continue
        name = keys.get(header_key(cell))
        if name is None:
            continue  # extra columns are ignored
        if name in index:
            problems.append(Problem(None, None, "duplicate_column", {"column": clean_text(cell)}, sheet))
            continue
        index[name] = i
    for col in columns:
        if col.required and col.name not in index:
            problems.append(Problem(None, None, "missing_column", {"column": col.name, "label": col.label}, sheet))
    if problems:
        raise FileRejected(*problems)
    return index


def open_workbook(source):
    """openpyxl workbook in read-only mode with formulas kept (so that they can be refused)."""
    import openpyxl

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        return openpyxl.load_workbook(source, read_only=True, data_only=False)
    except Exception as err:  # noqa: BLE001 - any parser failure means "cannot be read"
        log.info("unreadable workbook (%s)", type(err).__name__)
        raise FileRejected(Problem(None, None, "not_xlsx")) from None


@dataclass
class Row:
    number: int
    values: dict  # column name → (value, data_type)

    def get(self, name):
        return self.values.get(name, (None, "n"))


def read_sheet(workbook, sheet: str, columns: tuple[Column, ...]) -> list[Row]:
    """Rows (with their spreadsheet numbers) of `sheet`; blank rows skipped. FileRejected on a
    missing sheet or column, no data rows, or too many rows."""
    names = {n.strip().casefold(): n for n in workbook.sheetnames}
    if sheet not in names:
        raise FileRejected(Problem(None, None, "missing_sheet", {"sheet": sheet}))
    ws = workbook[names[sheet]]
    with contextlib.suppress(AttributeError):  # a normal (not read-only) worksheet has none
        ws.reset_dimensions()
    rows: list[Row] = []
    try:
        it = ws.iter_rows()
        header = next(it, ())
        index = match_headers(columns, [c.value for c in header], sheet)
        for number, cells in enumerate(it, start=2):
            values = {}
            blank = True
            for name, i in index.items():
                if i < len(cells):
                    cell = cells[i]
                    value, dtype = cell.value, getattr(cell, "data_type", "n")
                    if not (value is None or (isinstance(value, str) and not value.strip())):
                        blank = False
                    values[name] = (value, dtype)
            if blank:
                continue
            rows.append(Row(number, values))
            if len(rows) > MAX_ROWS:
                raise FileRejected(Problem(None, None, "too_many_rows", {"max": MAX_ROWS}, sheet))
    except FileRejected:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, EOFError):
        raise FileRejected(Problem(None, None, "not_xlsx")) from None
    if not rows:
        raise FileRejected(Problem(None, None, "no_rows", {}, sheet))
    return rows


# ----------------------------------------------------------------------------- cell checks


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_cell(value, data_type: str) -> None:
    if data_type == "f":
        raise CellError("formula")
    if data_type == "e":
        raise CellError("error_value")


def text(value, *, max_len: int = 200) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CellError("not_text")
    result = clean_text(str(value))
    if not result:
        raise CellError("required")
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    return result


_PERSON_NAME = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")


def person_name(value) -> str:
    if not isinstance(value, str):
        raise CellError("not_text")
    result = clean_text(value)
    if not result:
        raise CellError("required")
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > 120:
        raise CellError("too_long", max=120)
    if len(result) < 2:
        raise CellError("too_short", min=2)
    if not _PERSON_NAME.match(result):
        raise CellError("bad_name")
    return result


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


def code(value, data_type: str, *, max_len: int = 40) -> str:
    """An identifier typed as text (a number cell has lost its leading zeros)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise CellError("number_cell")
    if not isinstance(value, str):
        raise CellError("not_text")
    result = value.strip()
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if not _CODE.match(result):
        raise CellError("bad_code")
    return result


def phone(value) -> str:
    """A Vietnamese mobile, normalized to 0xxxxxxxxx (a 9-digit number cell lost its 0)."""
    if isinstance(value, bool):
        raise CellError("phone")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        value = f"0{value}" if 100_000_000 <= value <= 999_999_999 else str(value)
    if not isinstance(value, str):
        raise CellError("phone")
    result = normalize_phone(value.strip())
    if result is None:
        raise CellError("phone")
    return result


def email(value) -> str:
    if not isinstance(value, str):
        raise CellError("email")
    raw = value.strip()
    if raw.startswith(FORMULA_PREFIXES) or len(raw) > 254:
        raise CellError("email")
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise CellError("email") from None


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def a_date(value, *, today: date | None = None) -> date:
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    elif isinstance(value, bool):
        raise CellError("date_format")
    elif isinstance(value, (int, float)):
        raise CellError("date_number")
    elif isinstance(value, str):
        s = value.strip()
        m = _DMY.match(s)
        if m:
            day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            m = _YMD.match(s)
            if not m:
                raise CellError("date_format")
            year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        try:
            result = date(year, month, day)
        except ValueError:
            raise CellError("date_invalid") from None
    else:
        raise CellError("date_format")
    if result.year < 1900:
        raise CellError("date_too_old")
    if result > (today or date.today()):
        raise CellError("date_future")
    return result


def _enum_key(value: str) -> str:
    return re.sub(r"[\s_\-]+", "", strip_diacritics(value).casefold())


GENDERS = {"male": "male", "nam": "male", "m": "male", "female": "female", "nu": "female", "f": "female"}
YES_NO = {"yes": True, "y": True, "co": True, "x": True, "true": True, "1": True,
          "no": False, "n": False, "khong": False, "false": False, "0": False}


def gender(value) -> str:
    if not isinstance(value, str) or _enum_key(value) not in GENDERS:
        raise CellError("gender")
    return GENDERS[_enum_key(value)]


def yes_no(value) -> bool:
    if is_blank(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if not isinstance(value, str) or _enum_key(value) not in YES_NO:
        raise CellError("yes_no")
    return YES_NO[_enum_key(value)]


# ----------------------------------------------------------------------------- writing


def new_workbook():
    import openpyxl

    return openpyxl.Workbook()


def write_sheet(ws, header: list[str], rows: list[list], *, text_columns: tuple[int, ...] = ()) -> None:
    """Header in bold, then rows; text columns are formatted as Text ('@') so that codes keep
    their leading zeros when someone types into them."""
    from openpyxl.styles import Font

    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([escape_formula(v) for v in row])
    for col in text_columns:
        for cells in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            for cell in cells:
                cell.number_format = "@"
    for i, title in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(10, min(40, len(str(title)) + 4))


def workbook_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def iter_problem_lines(problems: list[Problem]) -> Iterator[str]:
    for p in problems:
        yield p.line()

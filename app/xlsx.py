"""Spreadsheet plumbing shared by the areas' Excel imports and exports (DESIGN §4b).

One home for what `admissions` and `contactbook` both need (DESIGN §1: the areas use `app` and
never each other):

- text: `clean_text`, `strip_diacritics`, `header_key`, `escape_formula` (exports);
- cell checks: each takes a cell's value (and the openpyxl `data_type` where it matters) and
  returns the clean value or raises `CellError(code, **params)`;
- reports: `Problem` (`row R, column C: problem`), `FileRejected`, the generic `MESSAGES` and
  `render_message` / `localize`;
- workbooks: `open_workbook`, `match_headers`, `read_sheet`, `write_sheet`, `workbook_bytes`.

Codes map to English msgids, translated when a report is shown (a report stored by a background
job is shown in the reader's language). An area adds its own codes in a table of its own,
`{**MESSAGES, ...}`, and a `Problem` subclass that reads it (`messages = ...`).

Area rules stay in the areas: personal IDs, provinces, levels, residence types and place names
in `admissions/validation.py`; classes and grades in `contactbook/`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import date, datetime
from typing import ClassVar

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from .security import normalize_phone

log = logging.getLogger(__name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Text starting with one of these is refused in names and codes (formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")
# OWASP CSV/formula injection: exports also escape a leading tab or carriage return.
EXPORT_ESCAPE_PREFIXES = (*FORMULA_PREFIXES, "\t", "\r")

MESSAGES: dict[str, object] = {
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
    "email": _l("is not a valid email address"),
    "date_format": _l("is not a date: use a date cell or dd/mm/yyyy"),
    "date_number": _l("is a number, not a date: format the cell as a date or type dd/mm/yyyy"),
    "date_invalid": _l("is not a real calendar date"),
    "date_future": _l("is in the future"),
    "date_too_old": _l("is before 1900"),
    "gender": _l("must be male or female (Nam, Nữ)"),
    "yes_no": _l("must be yes or no (có, không)"),
    "integer": _l("must be a whole number"),
    "integer_range": _l("must be between %(min)d and %(max)d"),
    "number": _l("must be a number"),
    "number_range": _l("must be between %(min)s and %(max)s"),
    # whole file
    "not_xlsx": _l("the file is not an Excel workbook (.xlsx) or cannot be read"),
    "missing_sheet": _l("the workbook has no sheet named %(sheet)s"),
    "missing_column": _l("the first row has no column %(column)s [%(label)s]"),
    "duplicate_column": _l("the first row names column %(column)s twice"),
    "no_rows": _l("the sheet has no data rows below the header row"),
    "too_many_rows": _l("the sheet has more than %(max)d data rows; split the file"),
    # rows
    "duplicate": _l("repeats the value of row %(first)d (each row must have its own key)"),
    "unknown_school": _l("no school with code %(code)s"),
}


def localize(lazy) -> str:
    """A lazy string in the current language; English outside a request (jobs, scripts)."""
    try:
        return str(lazy)
    except RuntimeError:  # no request: the app's locale selector reads the session
        from flask_babel import force_locale

        with force_locale("en"):
            return str(lazy)


def render_message(code: str, params: dict | None = None, messages: Mapping = MESSAGES) -> str:
    """The message of `code` (a key of `messages`) with its placeholders filled."""
    text = localize(messages[code])
    return text % params if params else text


class CellError(Exception):
    """A cell's value is refused: `code` is a key of MESSAGES (or an area's table), `params` fill
    its placeholders."""

    def __init__(self, code: str, /, **params):
        super().__init__(code)
        self.code = code
        self.params = params

    def message(self, messages: Mapping = MESSAGES) -> str:
        return render_message(self.code, self.params, messages)


@dataclass
class Problem:
    """One thing wrong: `row` is the spreadsheet's own 1-based row (None: the whole file or sheet),
    `column` the contract's snake_case name, `header` the column's header as written in the file
    (e.g. "Mã định danh"), `sheet` named when a workbook has several."""

    row: int | None
    column: str | None
    code: str
    params: dict = field(default_factory=dict)
    _: KW_ONLY
    header: str | None = None
    sheet: str | None = None

    messages: ClassVar[Mapping] = MESSAGES  # an area's subclass points this at its own table

    def message(self) -> str:
        return render_message(self.code, self.params, self.messages)

    def line(self, as_written: bool = False) -> str:
        """`row R, column C: problem` in the current language; C is the snake_case name (the CLI
        contract), or with `as_written` the file's own header text. A named sheet follows."""
        column = (self.header or self.column) if as_written else self.column
        problem = self.message()
        if self.row is not None and column:
            text = localize(_l("row %(row)d, column %(column)s: %(problem)s")) % {
                "row": self.row,
                "column": column,
                "problem": problem,
            }
        elif self.row is not None:
            text = localize(_l("row %(row)d: %(problem)s")) % {"row": self.row, "problem": problem}
        elif column:
            text = localize(_l("column %(column)s: %(problem)s")) % {"column": column, "problem": problem}
        elif self.sheet:
            return localize(_l("sheet %(sheet)s: %(problem)s")) % {"sheet": self.sheet, "problem": problem}
        else:
            return problem
        if not self.sheet:
            return text
        # The line still starts with `row R, column C:` (the CLI contract); the sheet follows.
        return localize(_l("%(line)s (sheet %(sheet)s)")) % {"line": text, "sheet": self.sheet}

    def to_json(self) -> dict:
        data = {
            "row": self.row,
            "column": self.column,
            "code": self.code,
            "params": self.params,
            "header": self.header,
        }
        if self.sheet is not None:
            data["sheet"] = self.sheet
        return data

    @classmethod
    def from_json(cls, data: dict) -> Problem:
        return cls(
            data.get("row"),
            data.get("column"),
            data["code"],
            data.get("params") or {},
            header=data.get("header"),
            sheet=data.get("sheet"),
        )


class FileRejected(Exception):
    """The whole file is refused (not a workbook, no sheet, missing column, no rows, …)."""

    def __init__(self, *problems: Problem):
        super().__init__(problems[0].code if problems else "rejected")
        self.problems = list(problems)


# --------------------------------------------------------------------------- text

# Control characters (Cc) other than the whitespace ones (tab, LF, CR), format characters (Cf:
# soft hyphen, zero-width and joiners, bidi overrides and isolates, BOM, tags, …), surrogates (Cs)
# and private use (Co). tests/unit/test_xlsx.py checks the list against `unicodedata`.
_DROPPED_BMP = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff"
)
_DROPPED_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000f0000-\U0010ffff"
)
_DROPPED = re.compile(f"[{_DROPPED_BMP}{_DROPPED_ASTRAL}]")
# The quick test (a cell is checked many times): a BMP character to drop, or any character
# beyond the BMP (emoji, rare) — then `_DROPPED` decides.
_MAYBE_DROPPED = re.compile(f"[{_DROPPED_BMP}\U00010000-\U0010ffff]")
_NEWLINES = re.compile(r"\r\n?")
_SPACES_IN_LINE = re.compile(r"[^\S\n]+")


def clean_text(value: str | None, *, multiline: bool = False) -> str:
    """NFC; control, format and private-use characters dropped; each run of whitespace one space,
    none at either end. `multiline` keeps line breaks (as `\\n`); None → ''."""
    if value is None:
        return ""
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    if _MAYBE_DROPPED.search(value):
        value = _DROPPED.sub("", value)
    if not multiline:
        return " ".join(value.split())
    return _SPACES_IN_LINE.sub(" ", _NEWLINES.sub("\n", value)).strip()


def strip_diacritics(text: str) -> str:
    """'Mã định danh' → 'Ma dinh danh' (đ/Đ → d/D)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


_HEADER_SEP = re.compile(r"[\s_]+")


def header_key(text: str) -> str:
    """Compare headers ignoring case, whitespace/underscores and diacritics."""
    return _HEADER_SEP.sub(" ", strip_diacritics(clean_text(text)).casefold()).strip()


def enum_key(value: str) -> str:
    """A key for a choice typed in either language: 'Thường trú' → 'thuongtru'."""
    return re.sub(r"[\s_\-]+", "", strip_diacritics(value).casefold())


def download(data: bytes, filename: str):
    """An .xlsx file as an attachment response. ``send_file`` encodes a non-ASCII or odd file name
    safely (RFC 6266); pages of signed-in users are never cached (see the app's after_request)."""
    from flask import send_file

    return send_file(io.BytesIO(data), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)


def escape_formula(value):
    """Exports: text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(EXPORT_ESCAPE_PREFIXES):
        return "'" + value
    return value


# --------------------------------------------------------------------------- cell checks
# `value` is the cell's value, `data_type` openpyxl's type letter: 's' text, 'n' number (also
# empty), 'd' date, 'b' boolean, 'f' formula, 'e' error. Checks that do not need it take it as an
# optional second argument, so that every check can be called as `check(value, data_type)`.


def check_cell(value, data_type: str) -> None:
    """Refuse formulas and error values wherever they appear."""
    if data_type == "f":
        raise CellError("formula")
    if data_type == "e":
        raise CellError("error_value")


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(
    value, data_type: str | None = None, *, max_len: int = 200, min_len: int = 1, formula_safe: bool = True
) -> str:
    """Free text (school names, addresses, place names, subjects); a number cell is read as text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CellError("not_text")
    result = clean_text(str(value))
    if not result:
        raise CellError("required")
    if formula_safe and result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if len(result) < min_len:
        raise CellError("too_short", min=min_len)
    return result


_PERSON_NAME = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")


def person_name(value, data_type: str | None = None) -> str:
    """A person's name, as app.forms.PersonName: letters, spaces, . ' - ; 2–120 characters."""
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


def text_cell(value, data_type: str | None) -> str:
    """The value of a cell that must have been typed as text: a number cell (or a number read from
    one) has lost its leading zeros. Returned stripped."""
    if isinstance(value, bool):
        raise CellError("not_text")
    if data_type == "n" or isinstance(value, (int, float)):
        raise CellError("number_cell")
    if not isinstance(value, str):
        raise CellError("not_text")
    return value.strip()


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


def code(value, data_type: str | None = None, *, max_len: int = 40) -> str:
    """An identifier (school or pupil code) typed as text."""
    result = text_cell(value, data_type)
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if not _CODE.match(result):
        raise CellError("bad_code")
    return result


def phone(value, data_type: str | None = None) -> str:
    """A Vietnamese mobile, normalized to 0xxxxxxxxx. A number cell of 9 digits lost its 0."""
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


def email(value, data_type: str | None = None) -> str:
    """An email address, normalized and lower-cased (deliverability is not checked)."""
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


def a_date(value, data_type: str | None = None, *, today: date | None = None) -> date:
    """A date cell, or dd/mm/yyyy text (also dd-mm-yyyy, dd.mm.yyyy and ISO yyyy-mm-dd); from
    1900 to `today`."""
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


def enum(value, table: Mapping[str, str], error_code: str):
    """One of a table's values, the key typed in either language (compared by `enum_key`)."""
    if not isinstance(value, str):
        raise CellError(error_code)
    result = table.get(value)
    if result is None:
        result = table.get(enum_key(value))
    if result is None:
        raise CellError(error_code)
    return result


GENDERS = {"male": "male", "nam": "male", "female": "female", "nu": "female"}
GENDERS_WITH_LETTERS = {**GENDERS, "m": "male", "f": "female"}
YES_NO = {
    "yes": True,
    "y": True,
    "co": True,
    "x": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "khong": False,
    "false": False,
    "0": False,
}


def gender(value, data_type: str | None = None, *, letters: bool = False) -> str:
    """'male' or 'female' from male/female/Nam/Nữ (any case, with or without diacritics);
    `letters` also accepts M/F."""
    return enum(value, GENDERS_WITH_LETTERS if letters else GENDERS, "gender")


def yes_no(value, data_type: str | None = None) -> bool:
    """yes/no, có/không, x, true/false, 1/0 or a boolean cell; blank is no."""
    if is_blank(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return enum(value, YES_NO, "yes_no")


_GROUPED = re.compile(r"\d{1,3}([.,]\d{3})+")


def integer(value, data_type: str | None = None, *, minimum: int = 0, maximum: int = 100_000) -> int:
    """A whole number (also '1.200' / '1,200' as thousands)."""
    if isinstance(value, bool):
        raise CellError("integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise CellError("integer")
        value = int(value)
    elif isinstance(value, str):
        s = value.strip()
        if _GROUPED.fullmatch(s):
            s = s.replace(".", "").replace(",", "")
        if not re.fullmatch(r"[0-9]+", s):
            raise CellError("integer")
        value = int(s)
    elif not isinstance(value, int):
        raise CellError("integer")
    if not minimum <= value <= maximum:
        raise CellError("integer_range", min=minimum, max=maximum)
    return value


def number(value, data_type: str | None = None, *, minimum: float, maximum: float) -> float:
    """A number (a decimal comma is accepted) from `minimum` to `maximum`."""
    if isinstance(value, bool):
        raise CellError("number")
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            raise CellError("number") from None
    if not isinstance(value, (int, float)) or value != value:  # NaN
        raise CellError("number")
    if not minimum <= value <= maximum:
        raise CellError("number_range", min=minimum, max=maximum)
    return float(value)


# --------------------------------------------------------------------------- reading workbooks


@dataclass(frozen=True)
class Column:
    name: str  # English snake_case (always accepted)
    label: str  # Vietnamese label (accepted; used in templates)
    required: bool = True
    aliases: tuple[str, ...] = ()  # more headers accepted


def match_headers(
    columns: tuple[Column, ...], header_cells: list, sheet: str | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """Map each known column to its 0-based index and to its header as written in the file.

    Extra columns are ignored. FileRejected for a missing required column or a column named twice.
    """
    keys: dict[str, str] = {}
    for col in columns:
        for alias in (col.name, col.label, *col.aliases):
            keys.setdefault(header_key(alias), col.name)
    index: dict[str, int] = {}
    written: dict[str, str] = {}
    problems = []
    for i, cell in enumerate(header_cells):
        if not isinstance(cell, str) or not cell.strip():
            continue
        name = keys.get(header_key(cell))
        if name is None:
            continue
        if name in index:
            problems.append(
                Problem(None, None, "duplicate_column", {"column": clean_text(cell)}, sheet=sheet)
            )
            continue
        index[name] = i
        written[name] = clean_text(cell)
    for col in columns:
        if col.required and col.name not in index:
            problems.append(
                Problem(None, None, "missing_column", {"column": col.name, "label": col.label}, sheet=sheet)
            )
    if problems:
        raise FileRejected(*problems)
    return index, written


def open_workbook(source):
    """An openpyxl workbook (path, file or bytes) in read-only mode with formulas kept, so that
    they can be refused. FileRejected ('not_xlsx') when it cannot be read."""
    import openpyxl

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        return openpyxl.load_workbook(source, read_only=True, data_only=False)
    except Exception as err:  # noqa: BLE001 - any parser failure means "cannot be read"
        log.info("unreadable workbook (%s)", type(err).__name__)
        raise FileRejected(Problem(None, None, "not_xlsx")) from None


def find_sheet(workbook, name: str):
    """The sheet called `name` (compared without case or surrounding spaces), or None."""
    names = {n.strip().casefold(): n for n in workbook.sheetnames}
    found = names.get(name.casefold())
    return None if found is None else workbook[found]


def get_sheet(workbook, name: str):
    """The sheet called `name`; FileRejected ('missing_sheet') when there is none."""
    ws = find_sheet(workbook, name)
    if ws is None:
        raise FileRejected(Problem(None, None, "missing_sheet", {"sheet": name}))
    return ws


# Errors openpyxl raises on a corrupt sheet part, half-way through reading it.
READ_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, EOFError)


@dataclass
class Row:
    number: int
    values: dict  # column name → (value, data_type)

    def get(self, name):
        return self.values.get(name, (None, "n"))


def read_sheet(workbook, sheet: str, columns: tuple[Column, ...], *, max_rows: int = 50_000) -> list[Row]:
    """Rows (with their spreadsheet numbers) of `sheet`; blank rows skipped. FileRejected on a
    missing sheet or column, no data rows, or more than `max_rows` rows."""
    ws = get_sheet(workbook, sheet)
    with contextlib.suppress(AttributeError):  # a normal (not read-only) worksheet has none
        ws.reset_dimensions()  # do not trust the stored dimension: read every cell there is
    rows: list[Row] = []
    try:
        it = ws.iter_rows()
        header = next(it, ())
        index, _written = match_headers(columns, [c.value for c in header], sheet)
        for number, cells in enumerate(it, start=2):
            values = {}
            blank = True
            for name, i in index.items():
                if i < len(cells):
                    cell = cells[i]
                    value = cell.value
                    if not is_blank(value):
                        blank = False
                    values[name] = (value, getattr(cell, "data_type", "n"))
            if blank:
                continue
            rows.append(Row(number, values))
            if len(rows) > max_rows:
                raise FileRejected(Problem(None, None, "too_many_rows", {"max": max_rows}, sheet=sheet))
    except FileRejected:
        raise
    except READ_ERRORS:
        raise FileRejected(Problem(None, None, "not_xlsx")) from None
    if not rows:
        raise FileRejected(Problem(None, None, "no_rows", sheet=sheet))
    return rows


# --------------------------------------------------------------------------- writing workbooks


def new_workbook():
    import openpyxl

    return openpyxl.Workbook()


def write_row(ws, values) -> None:
    """Append a row with every string escaped (use for all data that people typed)."""
    ws.append([escape_formula(v) for v in values])


def write_sheet(ws, header: list[str], rows: list[list], *, text_columns: tuple[int, ...] = ()) -> None:
    """Header in bold, then rows (escaped); text columns are formatted as Text ('@') so that codes
    keep their leading zeros when someone types into them."""
    from openpyxl.styles import Font

    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        write_row(ws, row)
    for col in text_columns:
        for cells in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            for cell in cells:
                cell.number_format = "@"
    for i, title in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(
            10, min(40, len(str(title)) + 4)
        )


def workbook_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

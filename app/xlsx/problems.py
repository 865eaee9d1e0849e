"""Import reports: the generic problem codes (`MESSAGES`), `Problem` (`row R, column C: problem`),
`CellError` raised by a cell check, `FileRejected` for a whole file.

Codes map to English msgids, translated when a report is shown (a report stored by a background
job is shown in the reader's language). An area adds its own codes in a table of its own,
`{**MESSAGES, ...}`, and a `Problem` subclass that reads it (`messages = ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

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
    "too_big": _l(
        "the file expands to far more data than a spreadsheet of this size holds; save it again from "
        "Excel (File > Save As > Excel Workbook) and upload that copy"
    ),
    "too_many_columns": _l("has more than %(max)d columns; delete the columns to the right of the data"),
    "blank_rows": _l("more than %(max)d empty rows in a row up to here; delete the empty rows"),
    # rows
    "duplicate": _l("repeats the value of row %(first)d (each row must have its own key)"),
    "unknown_school": _l("no school with code %(code)s"),
}


def localize(lazy) -> str:
    """A lazy string in the current language; English outside a request (jobs, scripts)."""
    try:
        return str(lazy)
    except RuntimeError:  # no request: the app's locale selector reads the session
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

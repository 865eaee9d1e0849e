"""Reading workbooks: `open_workbook` (read-only, formulas kept), `match_headers`, `read_sheet`."""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from dataclasses import dataclass

import openpyxl

from .cells import is_blank
from .problems import FileRejected, Problem
from .strings import clean_text, header_key

log = logging.getLogger(__name__)


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

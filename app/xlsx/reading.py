"""Reading workbooks: `open_workbook` (read-only, formulas kept), `match_headers`, `read_sheet`.

An uploaded workbook is a zip archive anyone can craft. Before openpyxl parses anything,
`check_archive` reads the archive's directory and refuses, in milliseconds, what would hold a
worker for minutes or take gigabytes of memory (a "decompression bomb"): too many members, a
member or the whole that would expand past a size limit, a large member that expands more than
any spreadsheet does, oversized document properties. The sizes checked are the ones the archive
declares, and they bind: Python's zipfile never yields more than a member's declared size (and
fails its CRC check if the data disagree). While rows are read, `guard_rows` refuses a sheet
padded with tens of thousands of empty rows or with cells in far-away columns."""

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

# The archive (docs/excel-formats.md, "Limits"). A real 150,000-row roster: one 93 MB sheet member
# compressed 17:1; the largest ratio of a member of a real workbook seen is ~25:1.
MAX_MEMBERS = 1_000
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one member, expanded
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # the whole archive, expanded
MAX_RATIO = 100  # expanded / compressed, for members larger than RATIO_FROM
RATIO_FROM = 1024 * 1024
MAX_PROPERTIES_BYTES = 1024 * 1024  # docProps/*: a few hundred bytes in real files
# The rows (guard_rows).
MAX_COLUMNS = 1_000  # cells per row, counting the empty ones before the last
MAX_BLANK_RUN = 10_000  # empty rows in a row before more data


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


def check_archive(source) -> None:
    """Refuse a workbook whose zip directory announces a decompression bomb (FileRejected
    'too_big'); a file that is not a zip archive is left to openpyxl's 'not_xlsx'."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    reason = _bomb_reason(members)
    if reason:
        log.warning("workbook refused before parsing: %s", reason)
        raise FileRejected(Problem(None, None, "too_big"))


def _bomb_reason(members: list[zipfile.ZipInfo]) -> str | None:
    if len(members) > MAX_MEMBERS:
        return f"{len(members)} members"
    total = 0
    for m in members:
        total += m.file_size
        if m.file_size > MAX_MEMBER_BYTES:
            return f"{m.filename}: {m.file_size} bytes"
        if m.file_size > RATIO_FROM and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            return f"{m.filename}: {m.file_size} bytes from {m.compress_size}"
        if m.filename.startswith("docProps/") and m.file_size > MAX_PROPERTIES_BYTES:
            return f"{m.filename}: {m.file_size} bytes"
    if total > MAX_TOTAL_BYTES:
        return f"{total} bytes in all"
    return None


def guard_rows(rows, sheet: str | None = None, first: int = 2):
    """(row number, cells) for each row of `rows`, refusing (FileRejected) a row with more than
    MAX_COLUMNS cells and more than MAX_BLANK_RUN empty rows followed by more data."""
    blank_run = 0
    for number, cells in enumerate(rows, start=first):
        if len(cells) > MAX_COLUMNS:
            raise FileRejected(Problem(number, None, "too_many_columns", {"max": MAX_COLUMNS}, sheet=sheet))
        for cell in cells:
            if cell.value is not None:
                blank_run = 0
                break
        else:
            blank_run += 1
            if blank_run > MAX_BLANK_RUN:
                raise FileRejected(Problem(number, None, "blank_rows", {"max": MAX_BLANK_RUN}, sheet=sheet))
        yield number, cells


def open_workbook(source):
    """An openpyxl workbook (path, file or bytes) in read-only mode with formulas kept, so that
    they can be refused. FileRejected: 'too_big' for a decompression bomb (check_archive),
    'not_xlsx' when it cannot be read."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    check_archive(source)
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
READ_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, EOFError, SyntaxError)
# SyntaxError: xml.etree's ParseError (a truncated or broken sheet XML) is one.


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
        for number, cells in guard_rows(it, sheet):
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

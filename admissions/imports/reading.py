"""Reading an import's sheet: its columns, the rows, one cell check at a time, progress, bulk writes.

Each import reads one sheet with openpyxl in read-only mode (formulas kept, so they are seen and
refused), checks every row, and only if no row has a problem writes everything in bulk — all or
nothing. The formats are docs/excel-formats.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from app import xlsx
from app.extensions import db
from app.xlsx import CellError, Column, FileRejected

from .places import Place
from .report import Problem

KINDS = ("schools", "catchments", "roster")
MAX_ROWS = 1_000_000
CHUNK = 5_000

ProgressFn = Callable[[str, float], None]


COLUMNS: dict[str, tuple[Column, ...]] = {
    "schools": (
        Column("school_code", "Mã trường"),
        Column("name", "Tên trường"),
        Column("level", "Cấp học"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã", False),
        Column("address", "Địa chỉ", False),
        Column("capacity", "Chỉ tiêu"),
        Column("latitude", "Vĩ độ", False),
        Column("longitude", "Kinh độ", False),
    ),
    "catchments": (
        Column("school_code", "Mã trường"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã"),
        Column("residential_group", "Tổ dân phố", False),
    ),
    "roster": (
        Column("personal_id", "Mã định danh"),
        Column("full_name", "Họ và tên"),
        Column("date_of_birth", "Ngày sinh"),
        Column("gender", "Giới tính"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã"),
        Column("residential_group", "Tổ dân phố", False),
        Column("residence_type", "Loại cư trú"),
        Column("guardian_name", "Họ tên cha/mẹ/người giám hộ"),
        Column("guardian_phone", "Số điện thoại", False),
    ),
}
SHEETS = {"schools": "schools", "catchments": "catchments", "roster": "roster"}


def match_headers(kind: str, header_cells: list) -> tuple[dict[str, int], dict[str, str]]:
    """Map each known column to its 0-based index and to the header text as written.

    Raises FileRejected for a missing required column or a column named twice.
    """
    return xlsx.match_headers(COLUMNS[kind], header_cells)


_OPEN_LOCK = threading.Lock()


def open_without_size_scan(source):
    """xlsx.open_workbook, without openpyxl's scan for each sheet's stored size.

    A file without a <dimension> element (every file openpyxl writes in write-only mode) makes
    openpyxl parse the whole sheet once just to learn that, before the rows are read: a quarter of
    a 150,000-row import. An import does not trust the stored size anyway (Sheet resets it), so
    the scan is skipped while the workbook opens (a lock keeps other imports in this process from
    opening at the same moment; the method is restored at once)."""
    with _OPEN_LOCK:
        original = ReadOnlyWorksheet._get_size
        ReadOnlyWorksheet._get_size = lambda self: None  # dimensions unknown: read every row there is
        try:
            return xlsx.open_workbook(source)
        finally:
            ReadOnlyWorksheet._get_size = original


class Sheet:
    """An open read-only sheet: its header mapping and an iterator over the data rows."""

    def __init__(self, kind: str, source):
        self.kind = kind
        self.workbook = open_without_size_scan(source)
        try:
            self._open_sheet()
        except BaseException:
            self.close()
            raise

    def _open_sheet(self):
        self.ws = xlsx.get_sheet(self.workbook, SHEETS[self.kind])
        self._count_bytes()
        # Do not trust the stored dimension (some writers store "A1"): read every cell there is.
        self.ws.reset_dimensions()
        self._rows = self.ws.iter_rows()
        try:
            header = next(self._rows)
        except StopIteration:
            header = ()
        except Exception:  # noqa: BLE001
            raise FileRejected(Problem(None, None, "not_xlsx")) from None
        self.index, self.written = match_headers(self.kind, [c.value for c in header])

    def _count_bytes(self) -> None:
        """Progress = bytes of the sheet's XML parsed so far / its size (works without a dimension)."""
        self.bytes_total = 0
        self.reader = None
        try:
            path = self.ws._worksheet_path  # openpyxl 3.1 read-only internals; progress only
            self.bytes_total = self.workbook._archive.getinfo(path).file_size
            original = self.ws._get_source
        except Exception:  # noqa: BLE001 - no progress figure, the import still works
            return
        sheet = self

        def counting_source():
            sheet.reader = _CountingReader(original())
            return sheet.reader

        self.ws._get_source = counting_source

    def fraction_read(self) -> float:
        if not self.bytes_total or self.reader is None:
            return 0.0
        return min(self.reader.count / self.bytes_total, 1.0)

    def rows(self) -> Iterator[tuple[int, tuple]]:
        """(spreadsheet row number, cells) for every row below the header, blank ones included."""
        try:
            yield from xlsx.guard_rows(self._rows)
        except FileRejected:
            raise
        except Exception:  # noqa: BLE001 - a corrupt sheet part fails mid-way
            raise FileRejected(Problem(None, None, "not_xlsx")) from None

    def close(self):
        with contextlib.suppress(Exception):  # closing a half-read archive may fail; nothing to keep
            self.workbook.close()


class _CountingReader:
    """A file wrapper that counts the bytes read through it."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def close(self):
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RowChecker:
    """Collects problems for one file; `get` reads and checks one cell of one row."""

    def __init__(self, sheet: Sheet, problems: list[Problem]):
        self.index = sheet.index
        self.written = sheet.written
        self.problems = problems

    def cells(self, row: tuple, names: tuple[str, ...]) -> list | None:
        """[(value, data_type) or None] for `names`; None when the whole row is blank."""
        n = len(row)
        out = []
        blank = True
        for name in names:
            i = self.index.get(name)
            if i is None or i >= n:
                out.append(None)
                continue
            cell = row[i]
            value = cell.value
            if value is None or (value.__class__ is str and not value.strip()):
                out.append(None)
            else:
                out.append((value, cell.data_type))
                blank = False
        return None if blank else out

    def error(self, rownum: int, name: str | None, err: CellError) -> None:
        self.problems.append(Problem(rownum, name, err.code, err.params, header=self.written.get(name)))


def check_field(chk: RowChecker, rownum: int, name: str, cell, fn, *args, required: bool = True, **kw):
    """Check one cell with `fn(value, *args)`; record a problem and return None when refused."""
    if cell is None:
        if required:
            chk.error(rownum, name, CellError("required"))
        return None
    value, data_type = cell
    try:
        if data_type == "f" or data_type == "e":
            xlsx.check_cell(value, data_type)
        return fn(value, *args, **kw)
    except CellError as err:
        chk.error(rownum, name, err)
        return None


def memoized(check, limit: int = 200_000):
    """Memoize a pure one-argument check (names repeat a lot in a roster)."""
    memo: dict = {}

    def cached(value):
        hit = memo.get(value)
        if hit is None:
            try:
                hit = (check(value), None)
            except CellError as err:
                hit = (None, err)
            if len(memo) < limit:
                memo[value] = hit
        if hit[1] is not None:
            raise CellError(hit[1].code, **hit[1].params)
        return hit[0]

    return cached


def place_text(value):
    return xlsx.text(value, max_len=120)


def in_scope(place: Place | None, scope: int | None) -> bool:
    return scope is None or (place is not None and place.id is not None and place.district_id == scope)


class Progress:
    """Calls `progress(phase, fraction)` at most every half second while rows are read."""

    def __init__(self, fn: ProgressFn | None, sheet: Sheet):
        self.fn, self.sheet, self.last = fn, sheet, time.monotonic()

    def tick(self, done: int) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self.fn("reading", self.sheet.fraction_read())

    def phase(self, name: str, fraction: float) -> None:
        if self.fn is not None:
            self.fn(name, fraction)


def data_rows(
    sheet: Sheet, chk: RowChecker, names: tuple[str, ...], prog: Progress
) -> Iterator[tuple[int, list]]:
    """(row number, cells of `names`) for each non-blank row; FileRejected past MAX_ROWS rows."""
    count = 0
    for rownum, row in sheet.rows():
        cells = chk.cells(row, names)
        if cells is None:
            continue
        count += 1
        if count > MAX_ROWS:
            raise FileRejected(Problem(None, None, "too_many_rows", {"max": MAX_ROWS}))
        if count % 1000 == 0:
            prog.tick(count)
        yield rownum, cells


def bulk_insert(table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    stmt = table.insert()
    for start in range(0, len(rows), CHUNK):
        db.session.execute(stmt, rows[start : start + CHUNK])


def bulk_update(model, rows: list[dict]) -> None:
    if rows:
        for start in range(0, len(rows), CHUNK):
            db.session.execute(sa.update(model), rows[start : start + CHUNK])

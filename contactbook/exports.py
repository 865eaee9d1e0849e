"""Excel exports (docs/excel-formats.md): a class's grade sheet (the same layout the grade sheet
import reads back) and the empty classes.xlsx to fill in."""

from __future__ import annotations

from decimal import Decimal

from app import xlsx

from .grades import MARK_LABELS, Book, display_result
from .imports.class_sheet import PUPIL_COLUMNS, TEACHER_COLUMNS

INFO_SHEET = "info"
GRADES_SHEET = "grades"


def book_identity(book: Book) -> str:
    """What the info sheet names, checked on import: school, class, subject, term and ids."""
    return f"{book.cls.school.code} / {book.cls.name} / {book.subject.name} / HK{book.term.number}"


def grade_sheet(book: Book) -> bytes:
    wb = xlsx.new_workbook()
    ws = wb.active
    ws.title = GRADES_SHEET
    header = ["Mã học sinh", "Họ và tên"] + [c.label for c in book.columns] + ["Kết quả"]
    rows = []
    for r in book.rows:
        line: list = [r.pupil.pupil_code, r.pupil.full_name]
        for c in book.columns:
            g = r.cells.get(c.key)
            if g is None:
                line.append(None)
            elif g.mark is not None:
                line.append(MARK_LABELS[g.mark])
            elif g.score is not None:
                line.append(float(g.score) if g.score != g.score.to_integral_value() else int(g.score))
            else:
                line.append(None)
        res = r.result
        line.append(float(res) if isinstance(res, Decimal) else display_result(res) or None)
        rows.append(line)
    xlsx.write_sheet(ws, header, rows, text_columns=(0,))
    info = wb.create_sheet(INFO_SHEET)
    xlsx.write_sheet(
        info,
        ["key", "value"],
        [
            ["book", book_identity(book)],
            ["class_id", book.cls.id],
            ["subject_id", book.subject.id],
            ["term_id", book.term.id],
            ["note", "Sửa điểm ở trang grades rồi tải lên lại; cột Kết quả chỉ để xem (tính tự động)."],
        ],
    )
    return xlsx.workbook_bytes(wb)


def classes_template() -> bytes:
    """An empty classes.xlsx with the Vietnamese headers (what the upload page offers)."""
    wb = xlsx.new_workbook()
    ws = wb.active
    ws.title = "pupils"
    xlsx.write_sheet(ws, [c.label for c in PUPIL_COLUMNS], [], text_columns=(0, 1, 2, 7))
    ws2 = wb.create_sheet("teachers")
    xlsx.write_sheet(
        ws2,
        [
            c.label if c.name not in ("teacher_email", "teacher_phone") else c.aliases[0]
            for c in TEACHER_COLUMNS
        ],
        [],
        text_columns=(0, 1, 5),
    )
    return xlsx.workbook_bytes(wb)

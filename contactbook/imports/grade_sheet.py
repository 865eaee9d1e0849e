"""Import of a grade sheet (docs/excel-formats.md): the sheet a teacher exported for one class ×
subject × term (exports.grade_sheet), filled in and uploaded again."""

from __future__ import annotations

from dataclasses import dataclass, field

from app import xlsx
from app.audit import audit
from app.models import User
from app.xlsx import CellError, Column, FileRejected

from ..exports import GRADES_SHEET, INFO_SHEET, book_identity
from ..grades import ERRORS, Book, SaveResult, save_entries
from .cells import Problem, read_sheet


@dataclass
class GradeSheetReport:
    problems: list[Problem] = field(default_factory=list)
    result: SaveResult | None = None  # when applied

    @property
    def ok(self) -> bool:
        return not self.problems


def import_grade_sheet(source, book: Book, *, actor: User, reason: str = "") -> GradeSheetReport:
    """Read a grade sheet exported for `book` (same layout) and save it like the entry form:
    all or nothing, blank cells clear drafts, changes to published grades need `reason`."""
    report = GradeSheetReport()
    try:
        wb = xlsx.open_workbook(source)
    except FileRejected as err:
        report.problems = err.problems
        return report
    columns = (Column("pupil_code", "Mã học sinh"), Column("full_name", "Họ và tên", required=False)) + tuple(
        Column(c.english, c.label, required=False) for c in book.columns
    )
    try:
        info_sheet = xlsx.find_sheet(wb, INFO_SHEET)
        if info_sheet is not None:
            info = {
                str(r[0]).strip(): r[1]
                for r in info_sheet.iter_rows(min_row=2, values_only=True)
                if r and r[0] is not None
            }
            found = (info.get("class_id"), info.get("subject_id"), info.get("term_id"))
            if found != (book.cls.id, book.subject.id, book.term.id):
                report.problems.append(
                    Problem(
                        None,
                        None,
                        "wrong_sheet",
                        {"found": str(info.get("book") or "?"), "expected": book_identity(book)},
                    )
                )
                return report
        rows = read_sheet(wb, GRADES_SHEET, columns)
    except FileRejected as err:
        report.problems = err.problems
        return report
    finally:
        wb.close()
    by_code = {r.pupil.pupil_code.casefold(): r for r in book.rows}
    entries: dict[tuple[int, str, int], object] = {}
    where: dict[tuple[int, str, int], tuple[int, str]] = {}
    seen: dict[int, int] = {}
    for row in rows:
        value, dtype = row.get("pupil_code")
        code = str(value).strip() if value is not None else ""
        target = by_code.get(code.casefold())
        if target is None:
            report.problems.append(Problem(row.number, "pupil_code", "unknown_pupil", {"code": code or "—"}))
            continue
        if target.pupil.id in seen:
            report.problems.append(
                Problem(row.number, "pupil_code", "duplicate", {"first": seen[target.pupil.id]})
            )
            continue
        seen[target.pupil.id] = row.number
        for c in book.columns:
            if c.english not in row.values:
                continue  # column not in the file: those grades are left alone
            v, t = row.get(c.english)
            try:
                xlsx.check_cell(v, t)
            except CellError as err:
                report.problems.append(Problem(row.number, c.label, err.code, err.params))
                continue
            key = (target.pupil.id, c.kind, c.seq)
            entries[key] = v
            where[key] = (row.number, c.label)
    if report.problems:
        return report
    result = save_entries(book, entries, actor=actor, reason=reason)
    if not result.ok:
        for key, code in sorted(result.errors.items(), key=lambda kv: where.get(kv[0], (0, ""))):
            number, label = where.get(key, (None, None))
            report.problems.append(Problem(number, label, "grade_cell", {"problem": str(ERRORS[code])}))
        return report
    report.result = result
    audit(
        "contactbook.grade_sheet_import",
        ("cb_class", book.cls.id),
        subject_id=book.subject.id,
        term_id=book.term.id,
        created=result.created,
        updated=result.updated,
        changed_published=result.changed_published,
    )
    return report

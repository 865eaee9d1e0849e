"""The grade book: columns per assessment scheme, loading a class × subject × term in a fixed
number of queries, saving a whole class's entries at once (draft), publishing, and changes to
published grades (reason required, history kept, audited, families told).

Services flush only; the view commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.audit import audit
from app.extensions import db
from app.models import User, utcnow

from . import rules
from .models import (
    Assessment,
    Enrolment,
    Grade,
    GradeChange,
    GradeKind,
    GradeStatus,
    Pupil,
    SchoolClass,
    Subject,
    Term,
)
from .notify import notify_guardians
from .rules import COMMENT_MARKS, PRIMARY_LEVELS, RuleError

MARK_LABELS = {"D": "Đ", "CD": "CĐ", "HTT": "HTT", "HT": "HT", "CHT": "CHT"}
MARK_NAMES = {
    "D": "Đạt",
    "CD": "Chưa đạt",
    "HTT": "Hoàn thành tốt",
    "HT": "Hoàn thành",
    "CHT": "Chưa hoàn thành",
}

ERRORS = {
    "not_a_number": _l("Enter a number from 0 to 10."),
    "range": _l("Enter a score from 0 to 10."),
    "decimals": _l("Use at most one decimal, such as 7.5."),
    "whole": _l("Test scores are whole numbers from 0 to 10."),
    "mark_comment": _l("Enter Đ (Đạt) or CĐ (Chưa đạt)."),
    "mark_primary": _l("Enter HTT, HT or CHT (or T, H, C)."),
    "reason": _l("Changing a published grade needs a reason (below)."),
}


@dataclass(frozen=True)
class BookColumn:
    kind: str
    seq: int
    label: str  # short header (TX1, GK, CK, Mức, KTĐK)
    english: str  # spreadsheet header accepted too (regular_1, midterm, …)
    input: str  # score | whole | mark
    marks: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.seq)


def columns_for(subject: Subject, max_regular_seen: int = 0) -> list[BookColumn]:
    if subject.assessment == Assessment.PRIMARY:
        cols = [BookColumn(GradeKind.LEVEL, 1, "Mức", "level", "mark", PRIMARY_LEVELS)]
        if subject.has_test:
            cols.append(BookColumn(GradeKind.ENDTERM, 1, "KTĐK", "test_score", "whole"))
        return cols
    n = max(subject.regular_count, max_regular_seen)
    kind_input, marks = ("mark", COMMENT_MARKS) if subject.assessment == Assessment.COMMENT else ("score", ())
    cols = [
        BookColumn(GradeKind.REGULAR, i, f"TX{i}", f"regular_{i}", kind_input, marks) for i in range(1, n + 1)
    ]
    cols.append(BookColumn(GradeKind.MIDTERM, 1, "GK", "midterm", kind_input, marks))
    cols.append(BookColumn(GradeKind.ENDTERM, 1, "CK", "endterm", kind_input, marks))
    return cols


def format_value(grade: Grade | None) -> str:
    if grade is None:
        return ""
    if grade.mark is not None:
        return MARK_LABELS[grade.mark]
    if grade.score is not None:
        return format_score(grade.score)
    return ""


def format_score(score: Decimal | None) -> str:
    if score is None:
        return ""
    if score == score.to_integral_value():
        return str(int(score))
    return f"{score:.1f}"


def term_result(subject: Subject, cells: dict[tuple[str, int], Grade]) -> str | Decimal | None:
    """The term's result from the cells given (a term average, Đ/CĐ, or the primary level)."""
    if subject.assessment == Assessment.SCORED:
        regular = [
            g.score for (k, _), g in sorted(cells.items()) if k == GradeKind.REGULAR and g.score is not None
        ]
        mid = cells.get((GradeKind.MIDTERM, 1))
        end = cells.get((GradeKind.ENDTERM, 1))
        return rules.term_average(regular, mid.score if mid else None, end.score if end else None)
    if subject.assessment == Assessment.COMMENT:
        marks = [g.mark for g in cells.values() if g.mark is not None]
        have_mid = (GradeKind.MIDTERM, 1) in cells and cells[(GradeKind.MIDTERM, 1)].mark is not None
        have_end = (GradeKind.ENDTERM, 1) in cells and cells[(GradeKind.ENDTERM, 1)].mark is not None
        required = subject.regular_count + 2
        result = rules.comment_term_result(marks, required)
        if result == rules.PASS and not (have_mid and have_end):
            return None
        return result
    level = cells.get((GradeKind.LEVEL, 1))
    return level.mark if level else None


def display_result(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.1f}"
    return MARK_LABELS.get(value, value)


# ----------------------------------------------------------------------------- loading


@dataclass
class BookRow:
    pupil: Pupil
    cells: dict[tuple[str, int], Grade] = field(default_factory=dict)
    result: object = None
    year_result: object = None
    first_term_result: object = None

    @property
    def has_draft(self) -> bool:
        return any(g.status == GradeStatus.DRAFT for g in self.cells.values())


@dataclass
class Book:
    cls: SchoolClass
    subject: Subject
    term: Term
    columns: list[BookColumn]
    rows: list[BookRow]
    drafts: int = 0
    published: int = 0
    last_published_at: object = None

    def row_of(self, pupil_id: int) -> BookRow | None:
        return next((r for r in self.rows if r.pupil.id == pupil_id), None)


def _class_pupil_ids(cls: SchoolClass):
    return sa.select(Enrolment.pupil_id).where(Enrolment.class_id == cls.id)


def load_book(cls: SchoolClass, subject: Subject, term: Term, terms: list[Term] | None = None) -> Book:
    """Pupils of the class and their grades in subject × term: two queries (three in term II,
    where the year result needs term I)."""
    pupils = list(
        db.session.scalars(
            sa.select(Pupil)
            .join(Enrolment, Enrolment.pupil_id == Pupil.id)
            .where(Enrolment.class_id == cls.id)
            .order_by(Pupil.full_name, Pupil.id)
        )
    )
    rows = {p.id: BookRow(p) for p in pupils}
    first = None
    if term.number == 2 and terms:
        first = next((t for t in terms if t.number == 1), None)
    grades = db.session.scalars(
        sa.select(Grade).where(
            Grade.subject_id == subject.id,
            Grade.term_id == term.id,
            Grade.pupil_id.in_(_class_pupil_ids(cls)),
        )
    )
    first_cells: dict[int, dict] = defaultdict(dict)
    max_seq = 0
    book = Book(cls, subject, term, [], [])
    for g in grades:
        row = rows.get(g.pupil_id)
        if row is None:
            continue
        row.cells[(g.kind, g.seq)] = g
        if g.kind == GradeKind.REGULAR:
            max_seq = max(max_seq, g.seq)
        if g.status == GradeStatus.DRAFT:
            book.drafts += 1
        else:
            book.published += 1
            if g.published_at and (book.last_published_at is None or g.published_at > book.last_published_at):
                book.last_published_at = g.published_at
    if first is not None:
        # Term I only feeds the year result: plain rows, no ORM objects to build.
        for r in db.session.execute(
            sa.select(Grade.pupil_id, Grade.kind, Grade.seq, Grade.score, Grade.mark).where(
                Grade.subject_id == subject.id,
                Grade.term_id == first.id,
                Grade.pupil_id.in_(_class_pupil_ids(cls)),
            )
        ):
            first_cells[r.pupil_id][(r.kind, r.seq)] = r
    book.columns = columns_for(subject, max_seq)
    for row in rows.values():
        row.result = term_result(subject, row.cells)
        if first is not None:
            row.first_term_result = term_result(subject, first_cells[row.pupil.id])
            if subject.assessment == Assessment.SCORED:
                row.year_result = rules.year_average(row.first_term_result, row.result)
            elif subject.assessment == Assessment.COMMENT:
                row.year_result = rules.comment_year_result(row.first_term_result, row.result)
    book.rows = list(rows.values())
    return book


@dataclass
class GridCell:
    name: str
    value: str
    error: str | None
    draft: bool
    changed: bool
    label: str


def grid(book: Book, result: SaveResult | None = None) -> list[tuple[BookRow, list[GridCell]]]:
    """What the entry table shows per pupil and column (computed here: a Python loop is several
    times cheaper than the same logic in the template, and a class has ~300 cells)."""
    errors = result.errors if result else {}
    typed = result.values if result else {}
    out = []
    for row in book.rows:
        pid = row.pupil.id
        cells = []
        for c in book.columns:
            key = (pid, c.kind, c.seq)
            g = row.cells.get(c.key)
            value = typed[key] if key in typed else format_value(g)
            err = errors.get(key)
            cells.append(
                GridCell(
                    f"g-{pid}-{c.kind}-{c.seq}",
                    value,
                    str(ERRORS[err]) if err else None,
                    g is not None and g.status == GradeStatus.DRAFT,
                    g is not None and g.changed_after_publish,
                    c.label,
                )
            )
        out.append((row, cells))
    return out


# ----------------------------------------------------------------------------- saving


@dataclass
class SaveResult:
    errors: dict[tuple[int, str, int], str] = field(default_factory=dict)  # (pupil, kind, seq) → code
    values: dict[tuple[int, str, int], str] = field(default_factory=dict)  # what was typed
    created: int = 0
    updated: int = 0
    deleted: int = 0
    changed_published: int = 0
    published: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_entry(column: BookColumn, raw) -> tuple[Decimal | None, str | None]:
    """(score, mark) for a typed value; raises RuleError with a code of ERRORS."""
    if column.input == "mark":
        try:
            return None, rules.parse_mark(raw, column.marks)
        except RuleError:
            raise RuleError("mark_comment" if column.marks == COMMENT_MARKS else "mark_primary") from None
    return rules.parse_score(raw, whole=column.input == "whole"), None


def save_entries(
    book: Book,
    entries: dict[tuple[int, str, int], object],
    *,
    actor: User,
    reason: str = "",
    publish: bool = False,
) -> SaveResult:
    """Apply typed values for (pupil_id, kind, seq) cells of the book. Cells not given are left
    alone; a blank cell clears the grade. All or nothing: any invalid cell, or a change to a
    published grade without a reason, stores nothing and reports each cell."""
    result = SaveResult()
    columns = {c.key: c for c in book.columns}
    rows = {r.pupil.id: r for r in book.rows}
    planned: list[tuple[BookRow, BookColumn, Decimal | None, str | None]] = []
    reason = (reason or "").strip()
    for (pupil_id, kind, seq), raw in entries.items():
        column = columns.get((kind, seq))
        row = rows.get(pupil_id)
        if column is None or row is None:
            continue  # not a cell of this book: ignored, never stored
        text = "" if raw is None else str(raw).strip()
        result.values[(pupil_id, kind, seq)] = text
        try:
            score, mark = parse_entry(column, raw)
        except RuleError as err:
            result.errors[(pupil_id, kind, seq)] = err.code
            continue
        existing = row.cells.get((kind, seq))
        if existing is None and score is None and mark is None:
            continue
        if existing is not None and existing.score == score and existing.mark == mark:
            continue
        if existing is not None and existing.status == GradeStatus.PUBLISHED and not reason:
            result.errors[(pupil_id, kind, seq)] = "reason"
            continue
        planned.append((row, column, score, mark))
    if result.errors:
        return result

    now = utcnow()
    for row, column, score, mark in planned:
        existing = row.cells.get(column.key)
        if existing is None:
            g = Grade(
                pupil_id=row.pupil.id,
                subject_id=book.subject.id,
                term_id=book.term.id,
                kind=column.kind,
                seq=column.seq,
                score=score,
                mark=mark,
                status=GradeStatus.DRAFT,
                updated_at=now,
                updated_by_id=actor.id,
            )
            db.session.add(g)
            row.cells[column.key] = g
            result.created += 1
        elif existing.status == GradeStatus.DRAFT:
            if score is None and mark is None:
                db.session.delete(existing)
                del row.cells[column.key]
                result.deleted += 1
            else:
                existing.score, existing.mark = score, mark
                existing.updated_at, existing.updated_by_id = now, actor.id
                result.updated += 1
        else:
            db.session.add(
                GradeChange(
                    grade=existing,
                    old_score=existing.score,
                    old_mark=existing.mark,
                    new_score=score,
                    new_mark=mark,
                    reason=reason[:300],
                    changed_by_id=actor.id,
                    changed_at=now,
                )
            )
            existing.score, existing.mark = score, mark
            existing.changed_after_publish = True
            existing.updated_at, existing.updated_by_id = now, actor.id
            result.changed_published += 1
    db.session.flush()
    if result.changed_published:
        audit(
            "contactbook.grade_change",
            ("cb_class", book.cls.id),
            subject_id=book.subject.id,
            term_id=book.term.id,
            count=result.changed_published,
        )
        changed_pupils = sorted(
            {
                row.pupil.id
                for row, column, *_ in planned
                if row.cells.get(column.key) is not None
                and row.cells[column.key].status == GradeStatus.PUBLISHED
            }
        )
        notify_guardians(
            "grade_changed",
            changed_pupils,
            {"subject": book.subject.name, "term": book.term.number},
            sender_id=actor.id,
            school_id=book.cls.school_id,
        )
    if publish:
        result.published = publish_book(book, actor)
    return result


def publish_book(book: Book, actor: User) -> int:
    """Publish every draft grade of the class × subject × term (one UPDATE); families are told."""
    now = utcnow()
    pupil_ids = sa.select(Enrolment.pupil_id).where(Enrolment.class_id == book.cls.id)
    touched = sorted(
        set(
            db.session.scalars(
                sa.select(Grade.pupil_id)
                .where(
                    Grade.subject_id == book.subject.id,
                    Grade.term_id == book.term.id,
                    Grade.status == GradeStatus.DRAFT,
                    Grade.pupil_id.in_(pupil_ids),
                )
                .distinct()
            )
        )
    )
    if not touched:
        return 0
    count = db.session.execute(
        sa.update(Grade)
        .where(
            Grade.subject_id == book.subject.id,
            Grade.term_id == book.term.id,
            Grade.status == GradeStatus.DRAFT,
            Grade.pupil_id.in_(pupil_ids),
        )
        .values(status=GradeStatus.PUBLISHED, published_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    for row in book.rows:
        for g in row.cells.values():
            if g.status == GradeStatus.DRAFT:
                g.status, g.published_at = GradeStatus.PUBLISHED, now
    audit(
        "contactbook.grades_publish",
        ("cb_class", book.cls.id),
        subject_id=book.subject.id,
        term_id=book.term.id,
        count=count,
    )
    notify_guardians(
        "grade_published",
        touched,
        {"subject": book.subject.name, "term": book.term.number},
        sender_id=actor.id,
        school_id=book.cls.school_id,
    )
    return count


def entries_from_form(form) -> dict[tuple[int, str, int], str]:
    """Cells of a posted grade form: inputs named g-<pupil>-<kind>-<seq>."""
    out = {}
    for name, value in form.items():
        parts = name.split("-")
        if len(parts) != 4 or parts[0] != "g" or parts[2] not in set(GradeKind):
            continue
        if not (parts[1].isdigit() and parts[3].isdigit()):
            continue
        out[(int(parts[1]), parts[2], int(parts[3]))] = value[:20]
    return out

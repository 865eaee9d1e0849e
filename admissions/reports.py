"""Excel exports of results (issue 4, point 9): admitted lists per school and summaries.

- **Admitted list** of a school: the children offered a place there or who confirmed it (the
  published results), with what the school needs to enrol them and the council's document state.
  No personal ID, no phone: the school reaches families through the app.
- **District summary**: one row per school (capacity, applications, placed, answers, seats left,
  the published cutoff) and the district's totals by application status.
- **City summary**: one row per district (city administrators).

Every text cell is a string cell escaped against formula injection (rules.excel_text: text that
starts with =, +, -, @, tab or CR gets a leading apostrophe), dates are dd/mm/yyyy text. The caller
audits the export (ids and counts only). Labels come from the view in the user's language.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import District, ResidentialGroup, School, Ward

from . import dashboard, rules
from .eligibility import district_schools
from .models import (
    AdmissionLevel,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationStatus,
    Child,
    CouncilReview,
    RoundKind,
)

ADMITTED = (ApplicationStatus.OFFERED, ApplicationStatus.CONFIRMED)

ADMITTED_HEADERS = (
    "no",
    "reference",
    "full_name",
    "date_of_birth",
    "gender",
    "ward",
    "residential_group",
    "residence",
    "choice",
    "status",
    "answered_on",
    "documents",
)
SCHOOL_HEADERS = (
    "school_code",
    "school",
    "capacity",
    "first_choice",
    "catchment",
    "any_choice",
    "placed",
    "confirmed",
    "seats_left",
    "cutoff",
)
DISTRICT_HEADERS = ("district", "schools", "capacity", "applications", "placed", "confirmed", "seats_left")


def _new_sheet(wb, title: str):
    from openpyxl.styles import Font

    ws = wb.create_sheet(title=title)
    bold = Font(bold=True)
    return ws, bold


def _cells(ws, values, font=None):
    """String cells (escaped) for text, numbers as numbers."""
    from openpyxl.cell import WriteOnlyCell

    out = []
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            cell = WriteOnlyCell(ws, value=v)
        else:
            cell = WriteOnlyCell(ws, value=rules.excel_text(v))
            cell.data_type = "s"
        if font is not None:
            cell.font = font
        out.append(cell)
    return out


def _save(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _title_rows(ws, bold, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        ws.append(_cells(ws, [line], bold if i == 0 else None))
    ws.append([])


def admitted_query(level: AdmissionLevel, school: School) -> sa.Select:
    return (
        sa.select(Application, Child, Ward.name, ResidentialGroup.name, CouncilReview.state)
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == Child.residential_group_id)
        .outerjoin(CouncilReview, CouncilReview.application_id == Application.id)
        .where(
            Application.admission_level_id == level.id,
            Application.allocated_school_id == school.id,
            Application.status.in_(ADMITTED),
        )
        .order_by(Child.full_name, Application.id)
    )


def admitted_workbook(level: AdmissionLevel, school: School, labels: dict, tz: str) -> tuple[bytes, int]:
    """The school's admitted children as .xlsx; returns (file bytes, rows). Dates are shown in `tz`."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "admitted")
    for col, width in zip("ABCDEFGHIJKL", (5, 16, 30, 12, 8, 18, 14, 12, 8, 18, 12, 16), strict=True):
        ws.column_dimensions[col].width = width
    _title_rows(ws, bold, [labels["title"], labels["subtitle"]])
    ws.append(_cells(ws, [labels["headers"][h] for h in ADMITTED_HEADERS], bold))
    n = 0
    for app_, child, ward, group, state in db.session.execute(admitted_query(level, school)).yield_per(1000):
        n += 1
        ws.append(
            _cells(
                ws,
                [
                    n,
                    app_.reference,
                    child.full_name,
                    child.date_of_birth.strftime("%d/%m/%Y"),
                    labels["gender"].get(child.gender, child.gender),
                    ward,
                    group or "",
                    labels["residence"].get(child.residence_type, child.residence_type),
                    app_.allocated_rank if app_.allocated_rank else labels["assigned"],
                    labels["status"].get(app_.status, app_.status),
                    rules.utc_to_local(app_.confirmed_at, tz).strftime("%d/%m/%Y")
                    if app_.confirmed_at
                    else "",
                    labels["documents"].get(state or "incomplete"),
                ],
            )
        )
    return _save(wb), n


def cutoff_text(cutoff, class_labels: dict) -> str:
    if not cutoff:
        return ""
    cls, lot = cutoff
    return f"{class_labels.get(cls, cls)}, {lot}"


def district_summary_workbook(level: AdmissionLevel, district: District, labels: dict) -> tuple[bytes, int]:
    """One row per school of the district and the district's totals; returns (file bytes, schools)."""
    from openpyxl import Workbook

    rows = dashboard.school_rows(level, district_id=district.id)
    rnd = dashboard.latest_published_rounds(level, district_id=district.id).get(district.id)
    cutoffs = dashboard.round_cutoffs(rnd)
    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "schools")
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 34
    ws.column_dimensions["J"].width = 30
    _title_rows(
        ws,
        bold,
        [
            labels["title"],
            labels["subtitle"],
            labels["round"] % {"n": rnd.number} if rnd is not None else labels["no_round"],
        ],
    )
    ws.append(_cells(ws, [labels["headers"][h] for h in SCHOOL_HEADERS], bold))
    for r in rows:
        ws.append(
            _cells(
                ws,
                [
                    r.code,
                    r.name,
                    r.capacity,
                    r.first_choice,
                    r.catchment,
                    r.any_choice,
                    r.placed,
                    r.confirmed,
                    max(r.capacity - r.placed, 0),
                    cutoff_text(cutoffs.get(r.code), labels["classes"]),
                ],
            )
        )
    t = dashboard.totals(rows)
    ws.append(
        _cells(
            ws,
            [
                labels["total"],
                "",
                t["capacity"],
                t["first_choice"],
                t["catchment"],
                t["any_choice"],
                t["placed"],
                t["confirmed"],
                max(t["capacity"] - t["placed"], 0),
                "",
            ],
            bold,
        )
    )

    ws2, _bold = _new_sheet(wb, "statuses")
    ws2.column_dimensions["A"].width = 30
    ws2.append(_cells(ws2, [labels["status_header"], labels["count_header"]], bold))
    for status, n in status_counts(level, district.id):
        ws2.append(_cells(ws2, [labels["status"].get(status, status), n]))
    return _save(wb), len(rows)


def status_counts(level: AdmissionLevel, district_id: int) -> list[tuple[str, int]]:
    """Applications of children living in the district, by status (one query)."""
    q = (
        sa.select(Application.status, sa.func.count())
        .where(
            Application.admission_level_id == level.id,
            Application.child_id.in_(
                sa.select(Child.id)
                .join(Ward, Ward.id == Child.ward_id)
                .where(Ward.district_id == district_id)
            ),
        )
        .group_by(Application.status)
    )
    counts = dict(db.session.execute(q).all())
    return [(s.value, int(counts.get(s.value, 0))) for s in ApplicationStatus]


def city_summary_workbook(level: AdmissionLevel, labels: dict) -> tuple[bytes, int]:
    from openpyxl import Workbook

    rows = dashboard.district_rows(level)
    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "districts")
    ws.column_dimensions["A"].width = 30
    _title_rows(ws, bold, [labels["title"], labels["subtitle"]])
    ws.append(_cells(ws, [labels["headers"][h] for h in DISTRICT_HEADERS], bold))
    for r in rows:
        ws.append(
            _cells(
                ws,
                [
                    r.name,
                    r.schools,
                    r.capacity,
                    r.applications,
                    r.placed,
                    r.confirmed,
                    max(r.capacity - r.placed, 0),
                ],
            )
        )
    t = dashboard.totals(rows)
    ws.append(
        _cells(
            ws,
            [
                labels["total"],
                t["schools"],
                t["capacity"],
                t["applications"],
                t["placed"],
                t["confirmed"],
                max(t["capacity"] - t["placed"], 0),
            ],
            bold,
        )
    )
    return _save(wb), len(rows)


def stamp(now_local: datetime) -> str:
    return now_local.strftime("%H:%M %d/%m/%Y")


# ---- allocation rounds: office lists and comparisons ------------------------------------------


def outcome_page(
    rnd: AllocationRound,
    *,
    school_id: int | None = None,
    unplaced: bool = False,
    page: int = 1,
    per_page: int = 100,
):
    """Children of a round at one school (priority order) or left without a seat; (rows, total)."""
    q = (
        sa.select(AllocationOutcome, Application.reference, Child.full_name)
        .join(Application, Application.id == AllocationOutcome.application_id)
        .join(Child, Child.id == Application.child_id)
        .where(AllocationOutcome.round_id == rnd.id)
    )
    if unplaced:
        q = q.where(AllocationOutcome.school_id.is_(None)).order_by(Child.full_name, Application.id)
    else:
        q = q.where(AllocationOutcome.school_id == school_id).order_by(
            AllocationOutcome.priority_class, AllocationOutcome.lottery
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery())) or 0
    rows = db.session.execute(q.limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


@dataclass
class CompareRow:
    school: School
    official: dict
    what_if: dict

    @property
    def change(self) -> int:
        return self.what_if.get("admitted", 0) - self.official.get("admitted", 0)


def compare(what_if: AllocationRound, limit: int = 200):
    """Side by side: per school (admitted, cutoff) and the children whose school differs."""
    base = what_if.base_round
    schools = district_schools(what_if.admission_level, what_if.district_id)
    a = base.summary.get("schools", {})
    b = what_if.summary.get("schools", {})
    rows = [CompareRow(s, a.get(s.code, {}), b.get(s.code, {})) for s in schools]
    o1, o2 = sa.orm.aliased(AllocationOutcome), sa.orm.aliased(AllocationOutcome)
    differs = sa.or_(
        o1.school_id != o2.school_id,
        sa.and_(o1.school_id.is_(None), o2.school_id.is_not(None)),
        sa.and_(o1.school_id.is_not(None), o2.school_id.is_(None)),
    )
    q = (
        sa.select(Application.reference, Child.full_name, o1.school_id, o2.school_id)
        .select_from(o1)
        .join(o2, sa.and_(o2.application_id == o1.application_id, o2.round_id == what_if.id))
        .join(Application, Application.id == o1.application_id)
        .join(Child, Child.id == Application.child_id)
        .where(o1.round_id == base.id, differs)
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery())) or 0
    moved = db.session.execute(q.order_by(Child.full_name, Application.id).limit(limit)).all()
    return rows, moved, total


def public_rounds(level_id: int | None = None) -> list[AllocationRound]:
    """Official rounds with what the public may see: the commitment always; seed and files once published."""
    q = sa.select(AllocationRound).where(AllocationRound.kind == RoundKind.OFFICIAL)
    if level_id is not None:
        q = q.where(AllocationRound.admission_level_id == level_id)
    return list(db.session.scalars(q.order_by(AllocationRound.created_at.desc()).limit(200)))

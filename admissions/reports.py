"""Read models for the office's exports and round pages: the admitted children of a school,
applications by status, a round's lists of children and a what-if comparison. The Excel files
are written by exports.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import District, ResidentialGroup, School, Ward

from .counter_models import AdmissionCounter
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


def admitted_query(level: AdmissionLevel, school: School) -> sa.Select:
    """The school's admitted children by name: plain columns (no objects kept by the session), so
    that an export reads them from a server-side cursor in constant memory."""
    a, c = Application, Child
    return (
        sa.select(
            a.reference,
            a.allocated_rank,
            a.status,
            a.confirmed_at,
            c.id.label("child_id"),
            c.full_name,
            c.date_of_birth,
            c.gender,
            c.residence_type,
            Ward.name.label("ward"),
            ResidentialGroup.name.label("group"),
            CouncilReview.state,
        )
        .join(c, c.id == a.child_id)
        .join(Ward, Ward.id == c.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == c.residential_group_id)
        .outerjoin(CouncilReview, CouncilReview.application_id == a.id)
        .where(
            a.admission_level_id == level.id,
            a.allocated_school_id == school.id,
            a.status.in_(ADMITTED),
        )
        .order_by(c.full_name, a.id)
    )


def status_counts(level: AdmissionLevel, district_id: int) -> list[tuple[str, int]]:
    """Applications of children living in the district, by status: one query on the counters."""
    t = AdmissionCounter
    q = (
        sa.select(t.status, sa.func.sum(t.applications))
        .join(Ward, Ward.id == t.scope_id)
        .where(t.admission_level_id == level.id, t.scope == "ward", Ward.district_id == district_id)
        .group_by(t.status)
    )
    counts = dict(db.session.execute(q).all())
    return [(s.value, int(counts.get(s.value, 0))) for s in ApplicationStatus]


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


def district_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(District.id, District.name)).all())


def public_rounds(level_id: int | None = None) -> list[AllocationRound]:
    """Official rounds with what the public may see: the commitment always; seed and files once published."""
    q = sa.select(AllocationRound).where(AllocationRound.kind == RoundKind.OFFICIAL)
    if level_id is not None:
        q = q.where(AllocationRound.admission_level_id == level_id)
    return list(db.session.scalars(q.order_by(AllocationRound.created_at.desc()).limit(200)))


ROUND_FILES = {"input": AllocationRound.input_snapshot, "result": AllocationRound.result}
FILE_CHUNK = 256 * 1024  # characters per piece of a streamed round file


def round_file(round_id: int, which: str) -> str | None:
    """A round's input or result document as the database stores it (JSON text), not parsed
    into Python and dumped again: at 200,000 children these files are 6–22 MB."""
    return db.session.scalar(
        sa.select(sa.cast(ROUND_FILES[which], sa.Text)).where(AllocationRound.id == round_id)
    )


def pieces(text: str):
    """The text in FILE_CHUNK pieces (a streamed response)."""
    for start in range(0, len(text), FILE_CHUNK):
        yield text[start : start + FILE_CHUNK]

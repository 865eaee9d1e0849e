"""Admission codes: one per eligible child and level, generated in bulk, locked after failures."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.audit import audit
from app.extensions import db
from app.models import ResidentialGroup, School, Ward

from . import rules
from .eligibility import catchment_map, eligible_roster_query, no_catchment_filter, school_area_filter
from .models import (
    AdmissionCode,
    AdmissionLevel,
    RosterEntry,
)
from .seasons import now

CODE_BATCH = 1000


def generate_codes(level: AdmissionLevel, district_id: int | None, *, record: bool = True) -> int:
    """Give every eligible child of the level (in the district) a code; idempotent.

    Children who already have one keep it. Returns how many codes were created.
    """
    missing = list(
        db.session.scalars(
            eligible_roster_query(level, district_id)
            .where(
                ~sa.exists().where(
                    AdmissionCode.roster_entry_id == RosterEntry.id,
                    AdmissionCode.admission_level_id == level.id,
                )
            )
            .with_only_columns(RosterEntry.id)
            .order_by(RosterEntry.id)
        )
    )
    created = 0
    trial = level.season.is_trial
    at = now()
    for start in range(0, len(missing), CODE_BATCH):
        batch = missing[start : start + CODE_BATCH]
        for attempt in range(3):
            codes = _fresh_codes(len(batch))
            try:
                with db.session.begin_nested():
                    db.session.execute(
                        sa.insert(AdmissionCode),
                        [
                            {
                                "code": c,
                                "admission_level_id": level.id,
                                "roster_entry_id": rid,
                                "is_trial": trial,
                                "created_at": at,
                                "failed_attempts": 0,
                            }
                            for c, rid in zip(codes, batch, strict=True)
                        ],
                    )
            except IntegrityError:
                # Another officer generated some of these at the same moment (or, once in a
                # blue moon, a code collided): keep what exists, retry the rest.
                if attempt == 2:
                    raise
                taken = set(
                    db.session.scalars(
                        sa.select(AdmissionCode.roster_entry_id).where(
                            AdmissionCode.admission_level_id == level.id,
                            AdmissionCode.roster_entry_id.in_(batch),
                        )
                    )
                )
                batch = [rid for rid in batch if rid not in taken]
                if not batch:
                    break
                continue
            created += len(batch)
            break
    if record:
        audit(
            "admissions.codes.generate",
            ("admission_level", level.id),
            district_id=district_id,
            created=created,
        )
    return created


def _fresh_codes(n: int) -> list[str]:
    """n new codes, unique among themselves and against the table (40 random bits each)."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {rules.new_code() for _ in range(n - len(codes))} - codes
        clash = set(db.session.scalars(sa.select(AdmissionCode.code).where(AdmissionCode.code.in_(wanted))))
        codes |= wanted - clash
    return list(codes)


def export_query(level: AdmissionLevel, district_id: int, school: School | None) -> sa.Select:
    """The codes of the children in a school's catchment (or with no single school), with each
    child's roster entry, ward and residential group names, in the order of the printed lists."""
    cmap = catchment_map(level.level)
    area = school_area_filter(cmap, school.id) if school else no_catchment_filter(cmap, district_id)
    return (
        eligible_roster_query(level, district_id)
        .where(area)
        .add_columns(AdmissionCode.code, Ward.name, ResidentialGroup.name)
        .join(
            AdmissionCode,
            sa.and_(
                AdmissionCode.roster_entry_id == RosterEntry.id, AdmissionCode.admission_level_id == level.id
            ),
        )
        .join(Ward, Ward.id == RosterEntry.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == RosterEntry.residential_group_id)
        .order_by(Ward.name, ResidentialGroup.name, RosterEntry.full_name, RosterEntry.id)
    )


def record_failed_attempt(code: AdmissionCode, at: datetime) -> None:
    """Count a failure on a code (atomic increment); the 5th within a lock period locks it."""
    db.session.execute(
        sa.update(AdmissionCode)
        .where(AdmissionCode.id == code.id)
        .values(failed_attempts=AdmissionCode.failed_attempts + 1)
    )
    db.session.refresh(code, ["failed_attempts"])
    if code.failed_attempts >= rules.MAX_FAILED_ATTEMPTS:
        code.locked_until = at + rules.LOCK_DURATION
        code.failed_attempts = 0
    db.session.flush()

"""The load test's database: a scratch PostgreSQL database, migrated, with one district whose
grade-1 window is open and a roster of children holding admission codes (what a family types).
Afterwards, the check that every acknowledged submission is stored exactly once."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from admissions import rules
from admissions.codes import generate_codes
from admissions.models import (
    AdmissionCode,
    AdmissionLevel,
    AdmissionSeason,
    Application,
    Catchment,
    Child,
    RosterEntry,
)
from app import jobs
from app.extensions import db
from app.models import AcademicYear, District, ResidentialGroup, School, Ward, utcnow

WARDS, GROUPS, OTHER_SCHOOLS = 10, 5, 6


@dataclass(frozen=True)
class Family:
    """What one family brings to the journey: the paper from the school and a phone."""

    code: str  # formatted as printed: K7M-2QX-9PA
    personal_id: str
    date_of_birth: str  # ISO, as an <input type=date> posts it
    phone: str
    password: str


def _insert(db, model, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    t = model.__table__
    result = db.session.execute(sa.insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def seed(app, n_families: int, rng: random.Random) -> list[Family]:
    """Migrate and fill the database of `app`; return the families, one roster child each."""

    with app.app_context():
        logging.disable(logging.INFO)  # the migrations' progress lines
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        now = utcnow()
        year = now.year
        ay = AcademicYear(
            name=f"{year}-{year + 1}",
            starts_on=date(year, 9, 5),
            ends_on=date(year + 1, 5, 31),
            is_current=True,
        )
        district = District(code="LOAD", name="Quận Tải Thử")
        db.session.add_all([ay, district])
        db.session.flush()
        season = AdmissionSeason(academic_year_id=ay.id, phase="official")
        db.session.add(season)
        db.session.flush()
        level = AdmissionLevel(
            season_id=season.id,
            level="grade1",
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=3),
            confirm_by=now + timedelta(days=20),
            state="scheduled",
        )
        db.session.add(level)
        db.session.flush()
        ward_ids = _insert(
            db, Ward, [{"district_id": district.id, "name": f"Phường {i + 1}"} for i in range(WARDS)]
        )
        groups = {
            w: _insert(db, ResidentialGroup, [{"ward_id": w, "name": f"Tổ {g + 1}"} for g in range(GROUPS)])
            for w in ward_ids
        }
        school_rows = [
            {
                "code": f"TH-L{i:03d}",
                "name": f"Tiểu học Tải Thử {i + 1}",
                "level": "grade1",
                "district_id": district.id,
                "ward_id": ward_ids[i % WARDS],
                "address": "",
                "capacity": max(60, n_families // 4),
            }
            for i in range(WARDS + OTHER_SCHOOLS)
        ]
        school_ids = _insert(db, School, school_rows)
        _insert(
            db,
            Catchment,
            [
                {"school_id": school_ids[i], "ward_id": w, "residential_group_id": None}
                for i, w in enumerate(ward_ids)
            ],
        )
        birth_year = rules.birth_year_for("grade1", year)
        roster = []
        for n in range(n_families):
            dob = date(birth_year, 1 + n % 12, 1 + n % 28)
            w = ward_ids[n % WARDS]
            roster.append(
                {
                    # 001 (the province), century-and-gender digit (2 boy, 3 girl in 2000-2099), year
                    "personal_id": f"001{2 + n % 2}{birth_year % 100:02d}{n:06d}",
                    "full_name": f"Trẻ Tải Thử {n}",
                    "date_of_birth": dob,
                    "gender": "female" if n % 2 else "male",
                    "ward_id": w,
                    "residential_group_id": groups[w][n % GROUPS],
                    "residence_type": "permanent",
                    "guardian_name": "Phụ Huynh",
                    "guardian_phone": None,
                    "imported_at": now,
                }
            )
        for start in range(0, len(roster), 5000):
            _insert(db, RosterEntry, roster[start : start + 5000])
        generate_codes(level, district.id, record=False)
        jobs.commit()
        rows = db.session.execute(
            sa.select(AdmissionCode.code, RosterEntry.personal_id, RosterEntry.date_of_birth)
            .join(RosterEntry, RosterEntry.id == AdmissionCode.roster_entry_id)
            .order_by(RosterEntry.id)
        ).all()
    families = [
        Family(
            code=rules.format_code(code),
            personal_id=pid,
            date_of_birth=dob.isoformat(),
            phone=f"09{80000000 + i:08d}",
            password=f"mot ngay dep troi {rng.randrange(10**9)}",
        )
        for i, (code, pid, dob) in enumerate(rows)
    ]
    rng.shuffle(families)
    return families


def check_submissions(app, acknowledged: dict[str, int]) -> tuple[int, int]:
    """`acknowledged`: personal ID → application id of every submission the app acknowledged
    (a redirect to its receipt). Returns (lost, duplicates): acknowledged children without their
    application, and extra applications of one child in the level."""

    with app.app_context():
        rows = db.session.execute(
            sa.select(RosterEntry.personal_id, Application.id)
            .join(Child, Child.roster_entry_id == RosterEntry.id)
            .join(Application, Application.child_id == Child.id)
            .where(RosterEntry.personal_id.in_(list(acknowledged)) if acknowledged else sa.false())
        ).all()
        db.session.rollback()
    stored: dict[str, list[int]] = {}
    for pid, app_id in rows:
        stored.setdefault(pid, []).append(app_id)
    lost = sum(1 for pid, app_id in acknowledged.items() if app_id not in stored.get(pid, []))
    duplicates = sum(len(ids) - 1 for ids in stored.values() if len(ids) > 1)
    return lost, duplicates


def backend_pids(app, database: str) -> list[int]:
    """The PostgreSQL server processes serving `database` (the app's pooled connections), this
    driver's own connection excluded: their CPU is read from /proc around a phase."""

    with app.app_context():
        pids = db.session.scalars(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
            {"d": database},
        ).all()
        db.session.rollback()
    return list(pids)

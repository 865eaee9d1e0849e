"""Demo catchments, a roster of about 500 children, the 2026-2027 season and its admission codes.

Idempotent. The season's windows are placed around the day the demo is loaded (grade 1 open
now, kindergarten and grade 6 after it, staggered) so that the demo parent can apply at once;
a later load moves them again only when no window is open any more.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import AcademicYear, ResidentialGroup, User

from . import rules, seasons
from .codes import generate_codes
from .models import (
    AdmissionCode,
    AdmissionLevel,
    AdmissionSeason,
    Catchment,
    Child,
    LevelState,
    ParentChild,
    RosterEntry,
)

# school code → [(ward, groups or None for the whole ward)]
CATCHMENTS = {
    "MN-HOASEN": [("Dịch Vọng", None), ("Dịch Vọng Hậu", None)],
    "MN-HOAMAI": [("Quan Hoa", None), ("Trung Hòa", range(1, 8))],
    "MN-NGHIADO": [("Nghĩa Đô", None), ("Nghĩa Tân", None), ("Mai Dịch", None)],
    "MN-YENHOA": [("Yên Hòa", None), ("Trung Hòa", range(8, 16))],
    "TH-DICHVONG": [("Dịch Vọng", None), ("Dịch Vọng Hậu", range(1, 6)), ("Quan Hoa", range(1, 14))],
    "TH-NGHIATAN": [
        ("Nghĩa Tân", None),
        ("Nghĩa Đô", None),
        ("Mai Dịch", None),
        ("Dịch Vọng Hậu", range(6, 11)),
    ],
    "TH-YENHOA": [("Yên Hòa", None), ("Trung Hòa", None), ("Quan Hoa", range(14, 28))],
    "THCS-CAUGIAY": [("Dịch Vọng", range(2, 11)), ("Quan Hoa", None), ("Dịch Vọng Hậu", None)],
    "THCS-NGHIATAN": [
        ("Nghĩa Tân", None),
        ("Nghĩa Đô", None),
        ("Mai Dịch", None),
        ("Dịch Vọng", [1, 11, 12]),
    ],
    "THCS-YENHOA": [("Yên Hòa", None), ("Trung Hòa", None)],
}

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE_M = ["Văn", "Minh", "Đức", "Quang", "Gia", "Hoàng", "Anh"]
MIDDLE_F = ["Thị", "Ngọc", "Thu", "Minh", "Khánh", "Bảo", "Phương"]
GIVEN_M = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Huy",
    "Khoa",
    "Long",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tuấn",
    "Việt",
    "Khang",
]
GIVEN_F = [
    "Anh",
    "Chi",
    "Giang",
    "Hà",
    "Hương",
    "Lan",
    "Linh",
    "Mai",
    "My",
    "Ngân",
    "Nhi",
    "Thảo",
    "Trang",
    "Vy",
]

# Birth years per level for the 2026 intake.
BIRTH_YEARS = {"kindergarten": 2021, "grade1": 2020, "grade6": 2015}
ROSTER_SIZE = 510


def personal_id(rng: random.Random, birth: date, gender: str, province: str = "001") -> str:
    """A well-formed 12-digit personal ID: province, century/gender digit, year, 6 digits."""
    century = (birth.year // 100) - 19  # 1900s → 0, 2000s → 1
    digit = century * 2 + (1 if gender == "female" else 0)
    return f"{province}{digit}{birth.year % 100:02d}{rng.randrange(10**6):06d}"


def load_demo(ctx) -> dict[str, int]:
    wards, schools = ctx["wards"], ctx["schools"]
    groups = {(g.ward_id, g.name): g for g in db.session.scalars(sa.select(ResidentialGroup))}
    existing = set(
        db.session.execute(
            sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id)
        ).all()
    )
    n_catch = 0
    for code, lines in CATCHMENTS.items():
        school = schools[code]
        for ward_name, nums in lines:
            ward = wards[ward_name]
            group_ids = [None] if nums is None else [groups[(ward.id, f"Tổ {i}")].id for i in nums]
            for gid in group_ids:
                n_catch += 1
                if (school.id, ward.id, gid) not in existing:
                    db.session.add(Catchment(school_id=school.id, ward_id=ward.id, residential_group_id=gid))

    if db.session.scalar(sa.select(sa.func.count(RosterEntry.id))) == 0:
        rng = random.Random(2026)  # noqa: S311 - demo data, not security
        ward_list = list(wards.values())
        seen: set[str] = set()
        for i in range(ROSTER_SIZE):
            level = ("kindergarten", "grade1", "grade6")[i % 3]
            gender = rng.choice(["male", "female"])
            birth = date(BIRTH_YEARS[level], 1, 1) + timedelta(days=rng.randrange(365))
            pid = personal_id(rng, birth, gender)
            while pid in seen:
                pid = personal_id(rng, birth, gender)
            seen.add(pid)
            ward = rng.choice(ward_list)
            n_groups = sum(1 for (wid, _) in groups if wid == ward.id)
            group = groups[(ward.id, f"Tổ {rng.randint(1, n_groups)}")]
            middle = MIDDLE_F if gender == "female" else MIDDLE_M
            given = GIVEN_F if gender == "female" else GIVEN_M
            family = rng.choice(FAMILY)
            db.session.add(
                RosterEntry(
                    personal_id=pid,
                    full_name=f"{family} {rng.choice(middle)} {rng.choice(given)}",
                    date_of_birth=birth,
                    gender=gender,
                    ward_id=ward.id,
                    residential_group_id=group.id,
                    residence_type="permanent" if rng.random() < 0.8 else "temporary",
                    guardian_name=f"{family} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}",
                    guardian_phone=f"09{rng.randrange(10**8):08d}",
                )
            )
    db.session.flush()
    counts = {
        "catchment_lines": n_catch,
        "roster": db.session.scalar(sa.select(sa.func.count(RosterEntry.id))),
    }
    counts.update(load_season(ctx))
    return counts


def load_season(ctx) -> dict[str, int]:
    """The demo season with staggered windows around today, codes for the roster, a linked child."""
    year = db.session.scalar(sa.select(AcademicYear).where(AcademicYear.name == "2026-2027"))
    if year is None:
        return {}
    season = db.session.scalar(sa.select(AdmissionSeason).where(AdmissionSeason.academic_year_id == year.id))
    if season is None:
        season = AdmissionSeason(academic_year_id=year.id, phase="official")
        db.session.add(season)
        db.session.flush()
        for level in rules.LEVELS:
            db.session.add(AdmissionLevel(season_id=season.id, level=level, state=LevelState.DRAFT))
        db.session.flush()
        db.session.refresh(season)
    tz = "Asia/Ho_Chi_Minh"
    now = seasons.now()
    if not any(lv.opens_at and lv.closes_at and lv.opens_at <= now < lv.closes_at for lv in season.levels):
        today = rules.utc_to_local(now, tz).date()
        start = datetime.combine(today - timedelta(days=1), time(0, 0))
        by_level = {lv.level: lv for lv in season.levels}
        for i, level in enumerate(("grade1", "kindergarten", "grade6")):
            lv = by_level[level]
            opens = start + timedelta(days=4 * i)
            lv.opens_at = rules.local_to_utc(opens, tz)
            lv.closes_at = rules.local_to_utc(opens + timedelta(days=3), tz)
            lv.confirm_by = rules.local_to_utc(opens + timedelta(days=17), tz)
            lv.state = LevelState.SCHEDULED
        db.session.flush()
    for lv in season.levels:
        generate_codes(lv, ctx["district"].id, record=False)
    codes = db.session.scalar(
        sa.select(sa.func.count(AdmissionCode.id))
        .join(AdmissionLevel)
        .where(AdmissionLevel.season_id == season.id)
    )
    parent = db.session.scalar(sa.select(User).where(User.phone == "0912345678"))
    if (
        parent is not None
        and db.session.scalar(sa.select(ParentChild.id).where(ParentChild.user_id == parent.id).limit(1))
        is None
    ):
        lo, hi = rules.birth_range("grade1", season.intake_year)
        entry = db.session.scalar(
            sa.select(RosterEntry)
            .where(RosterEntry.date_of_birth.between(lo, hi))
            .order_by(RosterEntry.id)
            .limit(1)
        )
        if entry is not None:
            child = db.session.scalar(sa.select(Child).where(Child.roster_entry_id == entry.id))
            if child is None:
                child = Child(
                    roster_entry_id=entry.id,
                    full_name=entry.full_name,
                    date_of_birth=entry.date_of_birth,
                    gender=entry.gender,
                    ward_id=entry.ward_id,
                    residential_group_id=entry.residential_group_id,
                    residence_type=entry.residence_type,
                    source="roster",
                )
                db.session.add(child)
                db.session.flush()
            db.session.add(ParentChild(user_id=parent.id, child_id=child.id))
            db.session.flush()
    return {"admission_codes": codes}

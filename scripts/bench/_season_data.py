"""The season bench's data: one district (wards, residential groups, schools, catchments, the
roster, children with their parents and applications with their wishes) and, with --city, the
rest of the city; bulk inserts, not timed. Used by admissions_season.py after it has configured
the app (the app's modules are imported inside the functions for that reason)."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

import sqlalchemy as sa
from _season_pages import PAGE_PASSWORD

from admissions import counters, rules
from admissions.codes import generate_codes
from admissions.models import (
    AdmissionLevel,
    AdmissionSeason,
    Application,
    ApplicationChoice,
    Catchment,
    Child,
    ParentChild,
    RosterEntry,
)
from app.auth.services import passwords
from app.extensions import db
from app.models import AcademicYear, District, ResidentialGroup, School, User, Ward, utcnow

WARDS, GROUPS = 40, 10


def _insert(db, model, rows: list[dict]) -> list[int]:
    """Bulk INSERT … RETURNING id in parameter order (insertmanyvalues batches)."""
    if not rows:
        return []
    t = model.__table__
    result = db.session.execute(sa.insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def load(args) -> dict:
    """The district, its catchments and the applications, and the rest of the city (bulk inserts,
    not timed)."""

    rng = random.Random(2026)  # noqa: S311 - benchmark data
    t0 = time.perf_counter()
    now = utcnow()
    year = now.year
    ay = AcademicYear(
        name=f"{year}-{year + 1}", starts_on=date(year, 9, 5), ends_on=date(year + 1, 5, 31), is_current=True
    )
    district = District(code="BENCH", name="Quận Bench")
    db.session.add_all([ay, district])
    db.session.flush()
    season = AdmissionSeason(academic_year_id=ay.id, phase="official")
    db.session.add(season)
    db.session.flush()
    level = AdmissionLevel(
        season_id=season.id,
        level="grade1",
        opens_at=now - timedelta(days=4),
        closes_at=now - timedelta(hours=1),
        confirm_by=now + timedelta(days=10),
        state="scheduled",
    )
    db.session.add(level)
    officer = User(
        role="district_officer",
        email="bench.officer@example.edu.vn",
        full_name="Cán Bộ Bench",
        district_id=district.id,
    )
    db.session.add(officer)
    db.session.flush()

    admin = User(role="city_admin", email="bench.admin@example.edu.vn", full_name="Quản Trị Bench")
    db.session.add(admin)
    officer.password_hash = admin.password_hash = passwords().hash(PAGE_PASSWORD)
    db.session.flush()
    main = _district(db, level, district.id, args.applications, args.schools, 0, now, rng)
    # The rest of the city (--city): districts of the same size, registered but not allocated.
    rest, k0, d = max(0, args.city - args.applications), args.applications, 1
    second = None
    while rest > 0:
        n = min(rest, args.applications)
        other = District(code=f"BENCH{d}", name=f"Quận Bench {d}")
        db.session.add(other)
        db.session.flush()
        second = second or other.id
        _district(db, level, other.id, n, args.schools, k0, now, rng, prefix=f"{d}")
        rest, k0, d = rest - n, k0 + n, d + 1
    # Every family got its admission code from the school before registering (the level page
    # counts them, the eligible list shows them): the office's own generation, not timed.
    t1 = time.perf_counter()
    issued = generate_codes(db.session.get(AdmissionLevel, level.id), None, record=False)
    db.session.commit()
    print(f"{issued:,} admission codes issued in {time.perf_counter() - t1:.1f} s")
    # The office's counters, as the submissions would have kept them (not timed).
    t1 = time.perf_counter()
    counters.recompute_for_season(level.id)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does after such a load on a real database: without statistics the
        # planner takes 200,000 rows for a few dozen and picks nested loops.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"counters of {k0:,} applications recomputed in {time.perf_counter() - t1:.1f} s")
    return {
        "level_id": level.id,
        "district_id": district.id,
        "second_district_id": second,
        "officer_id": officer.id,
        "admin_id": admin.id,
        "school_id": main["school_ids"][0],
        "applications": args.applications,
        "city": k0,
        "districts": d,
        "schools": main["schools"],
        "choices": main["choices"],
        "seconds": time.perf_counter() - t0,
    }


def _district(db, level, district_id: int, n: int, schools: int, k0: int, now, rng, prefix: str = "") -> dict:
    """One district: wards, groups, schools, catchments, `n` children with parents and applications
    (numbered from k0, so that personal ids, phones and references stay unique across districts)."""

    year = now.year
    ward_ids = _insert(
        db, Ward, [{"district_id": district_id, "name": f"Phường {i + 1}"} for i in range(WARDS)]
    )
    group_ids = {
        w: _insert(db, ResidentialGroup, [{"ward_id": w, "name": f"Tổ {g + 1}"} for g in range(GROUPS)])
        for w in ward_ids
    }
    per_ward = n // WARDS
    n_schools = max(schools, WARDS + 10)
    # Schools 0..39: catchment of ward i (wards 0..9 split by groups with schools 40..49);
    # the rest: no catchment (families choose them). Wards 0..4 are over-demanded.
    caps = []
    for i in range(n_schools):
        if i < 10:
            caps.append(int(per_ward / 2 * (0.6 if i < 5 else 1.15)))
        elif i < WARDS:
            caps.append(int(per_ward * 1.1))
        elif i < 50:
            caps.append(int(per_ward / 2 * 1.15))
        else:
            caps.append(int(per_ward * 0.6))
    school_ids = _insert(
        db,
        School,
        [
            {
                "code": f"TH-B{prefix}{i:03d}",
                "name": f"Tiểu học Bench {prefix}{i:03d}",
                "level": "grade1",
                "district_id": district_id,
                "ward_id": ward_ids[i % WARDS],
                "address": "",
                "capacity": caps[i],
                "latitude": 21.0 + (i % 8) * 0.01,
                "longitude": 105.78 + (i // 8) * 0.01,
            }
            for i in range(n_schools)
        ],
    )
    lines = []
    for w in range(WARDS):
        if w < 10:
            lines += [
                {"school_id": school_ids[w], "ward_id": ward_ids[w], "residential_group_id": g}
                for g in group_ids[ward_ids[w]][:5]
            ]
            lines += [
                {"school_id": school_ids[40 + w], "ward_id": ward_ids[w], "residential_group_id": g}
                for g in group_ids[ward_ids[w]][5:]
            ]
        else:
            lines.append({"school_id": school_ids[w], "ward_id": ward_ids[w], "residential_group_id": None})
    _insert(db, Catchment, lines)
    cmap = rules.CatchmentMap([(x["school_id"], x["ward_id"], x["residential_group_id"]) for x in lines])

    born = rules.birth_year_for("grade1", year)
    roster_rows, homes = [], []
    for k in range(n):
        w = ward_ids[(k // per_ward) % WARDS] if k < per_ward * WARDS else ward_ids[k % WARDS]
        g = group_ids[w][k % GROUPS]
        dob = date(born, 1 + k % 12, 1 + k % 28)
        gender = "female" if k % 2 else "male"
        digit = (dob.year // 100 - 19) * 2 + (1 if gender == "female" else 0)
        roster_rows.append(
            {
                "personal_id": f"001{digit}{dob.year % 100:02d}{k0 + k:06d}",
                "full_name": f"Học Sinh {k:05d}",
                "date_of_birth": dob,
                "gender": gender,
                "ward_id": w,
                "residential_group_id": g,
                "residence_type": "permanent",
                "guardian_name": "Phụ Huynh",
                "guardian_phone": None,
                "imported_at": now,
            }
        )
        homes.append((w, g))
    roster_ids = _insert(db, RosterEntry, roster_rows)
    child_ids = _insert(
        db,
        Child,
        [
            {
                **{
                    c: r[c]
                    for c in (
                        "full_name",
                        "date_of_birth",
                        "gender",
                        "ward_id",
                        "residential_group_id",
                        "residence_type",
                    )
                },
                "roster_entry_id": rid,
                "source": "roster",
                "created_at": now,
            }
            for r, rid in zip(roster_rows, roster_ids, strict=True)
        ],
    )
    digest = passwords().hash("bench password for everyone")
    parent_ids = _insert(
        db,
        User,
        [
            {
                "role": "parent",
                "phone": f"09{k0 + k:08d}",
                "full_name": f"Phụ Huynh {k:05d}",
                "password_hash": digest,
                "active": True,
                "created_at": now,
                "last_login_at": now,
            }
            for k in range(n)
        ],
    )
    _insert(
        db,
        ParentChild,
        [
            {"user_id": p, "child_id": c, "created_at": now}
            for p, c in zip(parent_ids, child_ids, strict=True)
        ],
    )
    spare = school_ids[50:] + school_ids[10:40:3]
    app_rows, wishes = [], []
    for k, (cid, pid) in enumerate(zip(child_ids, parent_ids, strict=True)):
        catchment = cmap.derive(*homes[k]).school_id
        others = (
            rng.sample([s for s in spare if s != catchment], k=rng.choice([1, 2, 3]))
            if rng.random() < 0.4
            else []
        )
        sibling = [rng.choice(school_ids)] if rng.random() < 0.1 else []
        app_rows.append(
            {
                "reference": f"L1-BENCH-{k0 + k:06d}",
                "child_id": cid,
                "admission_level_id": level.id,
                "status": "submitted",
                "is_trial": False,
                "catchment_school_id": catchment,
                "catchment_status": "ok",
                "residence_type": "permanent",
                "sibling_school_ids": sibling,
                "submitted_by_id": pid,
                "submitted_at": now,
                "updated_at": now,
            }
        )
        wishes.append(rules.ranked_choices(others, catchment))
    app_ids = _insert(db, Application, app_rows)
    db.session.execute(
        sa.insert(ApplicationChoice.__table__),
        [
            {"application_id": aid, "rank": r, "school_id": s, "is_catchment": c}
            for aid, ws in zip(app_ids, wishes, strict=True)
            for r, s, c in ws
        ],
    )
    return {"school_ids": school_ids, "schools": n_schools, "choices": sum(len(w) for w in wishes)}

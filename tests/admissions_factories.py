"""Test data for the admissions season: a district with catchments, roster children, a season.

Plain functions (flush only); tests commit before requests. Used by the admissions integration
tests and by tests/integration/test_route_access.py (`foreign_admission_ids`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

from admissions import counters, eligibility, freeze, rounds, rules, seasons
from admissions.models import (
    AdmissionLevel,
    AdmissionSeason,
    Application,
    ApplicationChoice,
    Catchment,
    Child,
    LevelState,
    ParentChild,
    RosterEntry,
)
from app import jobs
from app.auth.services import passwords
from app.extensions import db
from app.models import AcademicYear, ResidentialGroup, School, User, Ward, utcnow
from tests.factories import PASSWORD, create_school, create_user, create_ward

_seq = itertools.count(1)


def intake_year() -> int:
    """Seasons in tests start in the current year, so that real-time windows and ages agree."""

    return utcnow().year


def create_group(ward, name: str | None = None):
    g = ResidentialGroup(ward_id=ward.id, name=name or f"Tổ {next(_seq)}")
    db.session.add(g)
    db.session.flush()
    return g


def create_catchment(school, ward, group=None):
    c = Catchment(school_id=school.id, ward_id=ward.id, residential_group_id=group.id if group else None)
    db.session.add(c)
    db.session.flush()
    return c


def personal_id_for(dob: date, gender: str = "male") -> str:
    century = dob.year // 100 - 19
    digit = century * 2 + (1 if gender == "female" else 0)
    return f"001{digit}{dob.year % 100:02d}{next(_seq) % 10**6:06d}"


def create_roster_entry(
    ward,
    group=None,
    *,
    level: str = "grade1",
    dob: date | None = None,
    full_name: str | None = None,
    gender: str = "male",
    residence_type: str = "permanent",
):
    n = next(_seq)
    if dob is None:
        dob = date(rules.birth_year_for(level, intake_year()), 1 + n % 12, 1 + n % 28)
    r = RosterEntry(
        personal_id=personal_id_for(dob, gender),
        full_name=full_name or f"Trẻ Em {chr(65 + n % 26)}{n}",
        date_of_birth=dob,
        gender=gender,
        ward_id=ward.id,
        residential_group_id=group.id if group else None,
        residence_type=residence_type,
        guardian_name="Phụ Huynh",
        guardian_phone="0912000000",
    )
    db.session.add(r)
    db.session.flush()
    return r


def create_season(*, trial: bool = False, open_level: str | None = "grade1", year: int | None = None):
    """A season whose `open_level` window is open now; the other levels follow, staggered."""

    year = year or intake_year()
    ay = db.session.query(AcademicYear).filter_by(name=f"{year}-{year + 1}").one_or_none()
    if ay is None:
        ay = AcademicYear(
            name=f"{year}-{year + 1}", starts_on=date(year, 9, 5), ends_on=date(year + 1, 5, 31)
        )
        db.session.add(ay)
        db.session.flush()
    season = AdmissionSeason(academic_year_id=ay.id, phase="trial" if trial else "official")
    db.session.add(season)
    db.session.flush()
    now = utcnow()
    start = now - timedelta(days=1)
    order = ["grade1", "kindergarten", "grade6"]
    if open_level in order:
        order.remove(open_level)
        order.insert(0, open_level)
    for i, level in enumerate(order):
        if open_level is None or trial:
            opens = now + timedelta(days=10 + 4 * i)
        else:
            opens = start + timedelta(days=4 * i)
        db.session.add(
            AdmissionLevel(
                season_id=season.id,
                level=level,
                opens_at=opens,
                closes_at=opens + timedelta(days=3),
                confirm_by=opens + timedelta(days=20),
                state=LevelState.SCHEDULED,
            )
        )
    if trial:
        season.trial_opens_at = now - timedelta(hours=1)
        season.trial_closes_at = now + timedelta(days=2)
    db.session.flush()
    db.session.refresh(season)
    return season


def level_of(season, level: str = "grade1"):
    return next(lv for lv in season.levels if lv.level == level)


@dataclass
class Area:
    """One district's grade-1 map: ward W (groups g1-g3) and ward W2, four schools."""

    district: object
    ward: object
    ward2: object
    groups: list
    home: object  # catchment of ward W (whole ward)
    group_school: object  # catchment of W / g3 (a group line wins over the ward line)
    other: object  # catchment of W2, with spare seats
    full: object  # no catchment, no capacity: never offered
    children: list = field(default_factory=list)  # roster entries in W/g1


def create_area(district, *, n_children: int = 3):
    ward, ward2 = create_ward(district), create_ward(district)
    groups = [create_group(ward) for _ in range(3)]
    home = create_school(district, "grade1", capacity=60, name=f"Tiểu học Nhà {next(_seq)}")
    group_school = create_school(district, "grade1", capacity=40, name=f"Tiểu học Tổ {next(_seq)}")
    other = create_school(district, "grade1", capacity=80, name=f"Tiểu học Khác {next(_seq)}")
    full = create_school(district, "grade1", capacity=0, name=f"Tiểu học Đầy {next(_seq)}")
    create_catchment(home, ward)
    create_catchment(group_school, ward, groups[2])
    create_catchment(other, ward2)
    area = Area(district, ward, ward2, groups, home, group_school, other, full)
    area.children = [create_roster_entry(ward, groups[0]) for _ in range(n_children)]
    return area


def add_child_for(parent, roster_entry, season=None, level: str = "grade1"):
    """Link a roster child to a parent directly (as add_child would), for tests that start later."""

    child = db.session.query(Child).filter_by(roster_entry_id=roster_entry.id).one_or_none()
    if child is None:
        child = Child(
            roster_entry_id=roster_entry.id,
            full_name=roster_entry.full_name,
            date_of_birth=roster_entry.date_of_birth,
            gender=roster_entry.gender,
            ward_id=roster_entry.ward_id,
            residential_group_id=roster_entry.residential_group_id,
            residence_type=roster_entry.residence_type,
            source="roster",
            trial_season_id=season.id if season is not None and season.is_trial else None,
        )
        db.session.add(child)
        db.session.flush()
    db.session.add(ParentChild(user_id=parent.id, child_id=child.id))
    db.session.flush()
    return child


def create_application(child, level, parent, choices=(), catchment=None, status: str = "submitted"):
    app_ = Application(
        reference=f"T{next(_seq):07d}",
        child_id=child.id,
        admission_level_id=level.id,
        status=status,
        catchment_school_id=catchment.id if catchment else None,
        residence_type=child.residence_type,
        sibling_school_ids=[],
        submitted_by_id=parent.id,
        is_trial=level.season.is_trial,
    )
    rows = [(s, False) for s in choices] + ([(catchment, True)] if catchment else [])
    app_.choices = [
        ApplicationChoice(rank=i + 1, school_id=s.id, is_catchment=c) for i, (s, c) in enumerate(rows)
    ]
    db.session.add(app_)
    db.session.flush()
    counters.applied(app_)  # as the service does
    return app_


def close_window(level, *, confirm_days: int = 5):
    """Registration for `level` closed a few minutes ago; families confirm within `confirm_days`."""

    now = utcnow()
    level.opens_at = now - timedelta(days=3)
    level.closes_at = now - timedelta(minutes=5)
    level.confirm_by = now + timedelta(days=confirm_days)
    db.session.flush()
    return level


def create_round(level, district, actor, **kw):
    """An official round (seed committed), as the office's "create round" button makes it; once the
    window has closed, the entries are frozen and an officer types the beacon value (no BEACON_URL
    in tests unless a test starts a fake beacon)."""

    rnd = rounds.create_official_round(level, district.id, actor, **kw)
    enter_beacon(level, district.id, actor)
    return rnd


def enter_beacon(level, district_id: int, actor, randomness: str = "ab" * 32):
    """Freeze the entries (after the close) and type the beacon value, as an officer would."""

    if seasons.level_window(level).status(seasons.now()) != "closed":
        return None
    freeze.refreeze(level, district_id, actor)
    c = freeze.commitment_of(level, district_id)
    if not c.beacon_randomness:
        freeze.enter_beacon(c, randomness, "https://drand.example/public/test", actor)
    return c


def foreign_admission_ids(world) -> dict[str, int]:
    """Records outside the world users' scope: another family's child and application, a season,
    an allocation round of district B."""

    season = create_season()
    area = create_area(world["districts"][1], n_children=1)
    other_parent = create_user("parent")
    child = add_child_for(other_parent, area.children[0], season)
    app_ = create_application(child, level_of(season), other_parent, catchment=area.home)
    rnd = create_round(level_of(season), world["districts"][1], world["foreign"]["district_officer"])
    jobs.commit()
    return {
        "season_id": season.id,
        "level_id": level_of(season).id,
        "child_id": child.id,
        "application_id": app_.id,
        "round_id": rnd.id,
    }


def english(client, page: str = "/home"):
    """Switch a test client's session to English (the app defaults to Vietnamese)."""
    token = client.csrf(page)
    resp = client.post("/lang", data={"lang": "en", "csrf_token": token, "next": "/home"})
    assert resp.status_code == 302
    return client


def login_en(client, user):
    client.login_as(user)
    return english(client)


# ---- bulk helpers for season-sized tests (one flush per table, not per row) ----------------------


def bulk_roster(plan, *, level: str = "grade1", name_prefix: str = "Học Sinh"):
    """Roster entries for [(ward, group or None, n), ...], added in one flush; returns them in order."""

    year = rules.birth_year_for(level, intake_year())
    rows = []
    for ward, group, n in plan:
        for _ in range(n):
            k = next(_seq)
            dob = date(year, 1 + k % 12, 1 + k % 28)
            gender = "female" if k % 2 else "male"
            rows.append(
                RosterEntry(
                    personal_id=personal_id_for(dob, gender),
                    full_name=f"{name_prefix} {len(rows):04d}",
                    date_of_birth=dob,
                    gender=gender,
                    ward_id=ward.id,
                    residential_group_id=group.id if group else None,
                    residence_type="permanent",
                    guardian_name="Phụ Huynh",
                    guardian_phone="0912000000",
                )
            )
    db.session.add_all(rows)
    db.session.flush()
    return rows


def bulk_parents(n: int, *, logged_in: bool = True):
    """n parent accounts sharing one password hash (hashing is the slow part), one flush."""

    digest = passwords().hash(PASSWORD)
    users = []
    for _ in range(n):
        k = next(_seq)
        users.append(
            User(
                role="parent",
                phone=f"086{k:07d}",
                full_name=f"Phụ Huynh {k}",
                password_hash=digest,
                last_login_at=utcnow() if logged_in else None,
                phone_verified_at=utcnow(),
            )
        )
    db.session.add_all(users)
    db.session.flush()
    return users


def bulk_register(pairs, level, choose, sibling=lambda child: None):
    """What add-child + apply store, for many (parent, roster entry) pairs at once: the child (from
    the roster), the guardianship, the application with its catchment (derived like the service
    does) and ranked choices (`choose(child, catchment_id, options) -> [school ids]`, options being
    the schools with spare seats), the catchment school appended last. Returns the applications."""

    cmap = eligibility.catchment_map(level.level)
    children = {}
    for _parent, r in pairs:
        if r.id not in children:
            children[r.id] = Child(
                roster_entry_id=r.id,
                full_name=r.full_name,
                date_of_birth=r.date_of_birth,
                gender=r.gender,
                ward_id=r.ward_id,
                residential_group_id=r.residential_group_id,
                residence_type=r.residence_type,
                source="roster",
            )
    db.session.add_all(children.values())
    db.session.flush()
    db.session.add_all([ParentChild(user_id=p.id, child_id=children[r.id].id) for p, r in pairs])
    districts = dict(db.session.execute(db.select(Ward.id, Ward.district_id)).all())
    spare_by_district, schools_by_district = {}, {}
    apps, seen = [], set()
    for parent, r in pairs:
        if r.id in seen:
            continue
        seen.add(r.id)
        child = children[r.id]
        d = districts[child.ward_id]
        if d not in spare_by_district:
            spare_by_district[d] = eligibility.spare_seats_by_school(level, d)
            schools_by_district[d] = [
                s.id
                for s in db.session.scalars(
                    db.select(School)
                    .where(School.level == level.level, School.district_id == d)
                    .order_by(School.name)
                )
            ]
        c = cmap.derive(child.ward_id, child.residential_group_id)
        options = [
            s for s in schools_by_district[d] if s != c.school_id and spare_by_district[d].get(s, 0) > 0
        ]
        others = choose(child, c.school_id, options)
        sib = sibling(child)
        a = Application(
            reference=f"B{next(_seq):08d}",
            child_id=child.id,
            admission_level_id=level.id,
            status="submitted",
            is_trial=level.season.is_trial,
            catchment_school_id=c.school_id,
            catchment_status=c.status,
            residence_type=child.residence_type,
            sibling_school_ids=[sib] if sib else [],
            submitted_by_id=parent.id,
        )
        a.choices = [
            ApplicationChoice(rank=k, school_id=sid, is_catchment=is_c)
            for k, sid, is_c in rules.ranked_choices(others, c.school_id)
        ]
        apps.append(a)
    db.session.add_all(apps)
    db.session.flush()
    counters.recompute_for_season(level.id)  # the service keeps them one by one
    return apps

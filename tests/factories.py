"""Factories for test data (registered as a pytest plugin by tests/conftest.py)."""

from __future__ import annotations

import itertools

import pytest

from app import jobs
from app.auth.services import passwords
from app.extensions import db
from app.models import District, School, User, Ward, utcnow

PASSWORD = "correct horse battery staple"  # noqa: S105 - long enough for staff (≥12)
_seq = itertools.count(1)


def create_district(code: str | None = None, name: str | None = None):
    n = next(_seq)
    d = District(code=code or f"D{n}", name=name or f"Quận {n}")
    db.session.add(d)
    db.session.flush()
    return d


def create_ward(district, name: str | None = None):
    w = Ward(district_id=district.id, name=name or f"Phường {next(_seq)}")
    db.session.add(w)
    db.session.flush()
    return w


def create_school(district=None, level: str = "grade1", capacity: int = 100, code: str | None = None, **kw):
    district = district or create_district()
    n = next(_seq)
    s = School(
        code=code or f"S{n}",
        name=kw.pop("name", f"Trường {n}"),
        level=level,
        district_id=district.id,
        capacity=capacity,
        **kw,
    )
    db.session.add(s)
    db.session.flush()
    return s


def create_user(
    role: str = "parent",
    *,
    school=None,
    district=None,
    password: str = PASSWORD,
    phone: str | None = None,
    email: str | None = None,
    full_name: str | None = None,
    active: bool = True,
    phone_verified: bool = True,
):
    n = next(_seq)
    if role == "parent":
        phone = phone or f"09{n:08d}"
    else:
        email = email or f"{role}{n}@example.edu.vn"
    u = User(
        role=role,
        phone=phone,
        email=email,
        full_name=full_name or f"Người Dùng {chr(65 + n % 26)}",
        school_id=school.id if school else None,
        district_id=district.id if district else None,
        password_hash=passwords().hash(password),
        active=active,
        # A parent's number is proven unless the test says otherwise (app.auth.verification).
        phone_verified_at=utcnow() if phone and phone_verified else None,
    )
    db.session.add(u)
    db.session.flush()
    return u


@pytest.fixture
def world(app):
    """Two districts, each with a school, and one user per role scoped to district/school A."""

    da, db_ = create_district(), create_district()
    sa_, sb = create_school(da), create_school(db_)
    users = {
        "parent": create_user("parent"),
        "teacher": create_user("teacher", school=sa_),
        "school_staff": create_user("school_staff", school=sa_),
        "district_officer": create_user("district_officer", district=da),
        "city_admin": create_user("city_admin"),
    }
    foreign = {
        "teacher": create_user("teacher", school=sb),
        "school_staff": create_user("school_staff", school=sb),
        "district_officer": create_user("district_officer", district=db_),
    }
    jobs.commit()
    return {"districts": (da, db_), "schools": (sa_, sb), "users": users, "foreign": foreign}

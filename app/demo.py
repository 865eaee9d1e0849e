"""The demo district: a small Cầu Giấy with schools at every level, catchments and accounts.

Idempotent: loading twice changes nothing. Areas add their own demo data through hooks
registered in create_app (`app.extensions["demo_loaders"]`).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import current_app

from .auth.services import passwords
from .extensions import db
from .models import AcademicYear, District, ResidentialGroup, Role, School, User, Ward, utcnow
from .years import current_year

DEMO_PASSWORD = "hoc-tap-vui-ve-2026"  # noqa: S105 - published demo credential
DEMO_LOGINS = {
    "password": DEMO_PASSWORD,
    "accounts": [
        ("city_admin", "admin@demo.edu.vn"),
        ("district_officer", "phong.gd@demo.edu.vn"),
        ("school_staff", "vanthu.dichvong@demo.edu.vn"),
        ("teacher", "gv.lan@demo.edu.vn"),
        ("parent", "0912345678"),
    ],
}

WARDS = {
    "Dịch Vọng": 12,
    "Dịch Vọng Hậu": 10,
    "Quan Hoa": 27,
    "Nghĩa Đô": 14,
    "Nghĩa Tân": 9,
    "Mai Dịch": 11,
    "Yên Hòa": 16,
    "Trung Hòa": 15,
}

# code, name, level, ward, capacity, lat, lon
SCHOOLS = [
    ("MN-HOASEN", "Trường Mầm non Hoa Sen", "kindergarten", "Dịch Vọng", 90, 21.0368, 105.7925),
    ("MN-HOAMAI", "Trường Mầm non Hoa Mai", "kindergarten", "Quan Hoa", 80, 21.0390, 105.8010),
    ("MN-NGHIADO", "Trường Mầm non Nghĩa Đô", "kindergarten", "Nghĩa Đô", 70, 21.0460, 105.7990),
    ("MN-YENHOA", "Trường Mầm non Yên Hòa", "kindergarten", "Yên Hòa", 60, 21.0230, 105.7960),
    ("TH-DICHVONG", "Trường Tiểu học Dịch Vọng", "grade1", "Dịch Vọng", 105, 21.0360, 105.7910),
    ("TH-NGHIATAN", "Trường Tiểu học Nghĩa Tân", "grade1", "Nghĩa Tân", 70, 21.0470, 105.7930),
    ("TH-YENHOA", "Trường Tiểu học Yên Hòa", "grade1", "Yên Hòa", 105, 21.0220, 105.7950),
    ("THCS-CAUGIAY", "Trường THCS Cầu Giấy", "grade6", "Quan Hoa", 90, 21.0340, 105.7990),
    ("THCS-NGHIATAN", "Trường THCS Nghĩa Tân", "grade6", "Nghĩa Tân", 80, 21.0480, 105.7950),
    ("THCS-YENHOA", "Trường THCS Yên Hòa", "grade6", "Yên Hòa", 70, 21.0210, 105.7940),
]


def _get_or_create(model, defaults: dict | None = None, **keys):
    obj = db.session.scalar(sa.select(model).filter_by(**keys))
    if obj is None:
        obj = model(**keys, **(defaults or {}))
        db.session.add(obj)
        db.session.flush()
        return obj, True
    return obj, False


def load_demo() -> dict[str, int]:
    counts: dict[str, int] = {}
    district, _ = _get_or_create(District, code="CG", defaults={"name": "Quận Cầu Giấy"})
    wards: dict[str, Ward] = {}
    for name, n_groups in WARDS.items():
        ward, _ = _get_or_create(Ward, district_id=district.id, name=name)
        wards[name] = ward
        for i in range(1, n_groups + 1):
            _get_or_create(ResidentialGroup, ward_id=ward.id, name=f"Tổ {i}")
    counts["wards"] = len(wards)
    schools: dict[str, School] = {}
    for code, name, level, ward, cap, lat, lon in SCHOOLS:
        school, _ = _get_or_create(
            School,
            code=code,
            defaults={
                "name": name,
                "level": level,
                "district_id": district.id,
                "ward_id": wards[ward].id,
                "address": f"Phường {ward}, Quận Cầu Giấy, Hà Nội",
                "capacity": cap,
                "latitude": lat,
                "longitude": lon,
            },
        )
        schools[code] = school
    counts["schools"] = len(schools)
    _get_or_create(
        AcademicYear,
        name="2026-2027",
        # Current unless the installation already has its current year (one at most).
        defaults={
            "starts_on": date(2026, 9, 5),
            "ends_on": date(2027, 5, 31),
            "is_current": current_year() is None,
        },
    )

    pw = passwords().hash(DEMO_PASSWORD)
    accounts = [
        {"email": "admin@demo.edu.vn", "full_name": "Nguyễn Văn Quản", "role": Role.CITY_ADMIN},
        {
            "email": "phong.gd@demo.edu.vn",
            "full_name": "Trần Thị Phòng",
            "role": Role.DISTRICT_OFFICER,
            "district_id": district.id,
        },
        {
            "email": "vanthu.dichvong@demo.edu.vn",
            "full_name": "Lê Văn Thư",
            "role": Role.SCHOOL_STAFF,
            "school_id": schools["TH-DICHVONG"].id,
        },
        {
            "email": "gv.lan@demo.edu.vn",
            "full_name": "Phạm Thị Lan",
            "role": Role.TEACHER,
            "school_id": schools["TH-DICHVONG"].id,
        },
        # The demo parent's number counts as proven (a real one proves it with a code by SMS).
        {
            "phone": "0912345678",
            "full_name": "Hoàng Văn Bố",
            "role": Role.PARENT,
            "phone_verified_at": utcnow(),
        },
    ]
    for acc in accounts:
        key = {"email": acc["email"]} if "email" in acc else {"phone": acc["phone"]}
        rest = {k: v for k, v in acc.items() if k not in key}
        _get_or_create(User, defaults={**rest, "password_hash": pw}, **key)
    counts["accounts"] = len(accounts)

    ctx = {"district": district, "wards": wards, "schools": schools}
    for loader in current_app.extensions.get("demo_loaders", []):
        counts.update(loader(ctx))
    return counts

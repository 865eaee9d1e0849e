"""Demo contact book (idempotent): class 1A at TH-DICHVONG (homeroom gv.lan@demo.edu.vn, 30
pupils) and class 6A1 at THCS-CAUGIAY (30 pupils); the demo parent (0912345678) is guardian of
one pupil in each; published term-I grades, comments and attendance."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from app.extensions import db
from app.models import Role, User, utcnow

from .catalog import standard_subjects
from .circulars import CRITERIA, END_1, MID_1
from .classes import add_standard_subjects
from .models import (
    ABSENT,
    Assessment,
    Attendance,
    AttendanceStatus,
    Comment,
    CommentKind,
    Enrolment,
    Gender,
    Grade,
    GradeKind,
    GradeStatus,
    Guardian,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
)
from .primary_models import QualityEvaluation, QualityLevel
from .years import current_year, ensure_terms

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Gia", "Bảo", "Thu", "Đức", "Khánh", "Anh"]
GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Huy",
    "Khoa",
    "Lan",
    "Linh",
    "Mai",
    "Nam",
    "Nhi",
    "Phúc",
    "Quân",
    "Sơn",
    "Thảo",
    "Trang",
    "Tuấn",
    "Vy",
]
PARENT_PHONE = "0912345678"
CLASS_SIZE = 30


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def _teacher(email: str, name: str, school, password_hash: str | None) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        user = User(
            email=email, full_name=name, role=Role.TEACHER, school_id=school.id, password_hash=password_hash
        )
        db.session.add(user)
        db.session.flush()
    return user


def _class(
    school,
    year,
    name: str,
    homeroom: User,
    rng: random.Random,
    prefix: str,
    birth_year: int,
    parent: User,
    parent_child_name: str,
) -> tuple[SchoolClass, bool]:
    cls = db.session.scalar(
        sa.select(SchoolClass).where(
            SchoolClass.school_id == school.id,
            SchoolClass.academic_year_id == year.id,
            SchoolClass.name == name,
        )
    )
    if cls is not None:
        return cls, False
    cls = SchoolClass(
        school_id=school.id,
        academic_year_id=year.id,
        grade=int(name[0]),
        name=name,
        homeroom_teacher_id=homeroom.id,
    )
    db.session.add(cls)
    db.session.flush()
    for i in range(CLASS_SIZE):
        gender = Gender.FEMALE if i % 2 else Gender.MALE
        full_name = parent_child_name if i == 0 else _name(rng)
        pupil = db.session.scalar(
            sa.select(Pupil).where(Pupil.school_id == school.id, Pupil.pupil_code == f"{prefix}{i + 1:03d}")
        )
        if pupil is None:
            pupil = Pupil(
                school_id=school.id,
                pupil_code=f"{prefix}{i + 1:03d}",
                full_name=full_name,
                date_of_birth=date(birth_year, 1, 1) + timedelta(days=rng.randrange(365)),
                gender=gender,
            )
            db.session.add(pupil)
            db.session.flush()
        db.session.add(Enrolment(pupil_id=pupil.id, class_id=cls.id, academic_year_id=year.id))
        if i == 0:
            guardian = parent
        else:
            phone = f"098{rng.randrange(10**7):07d}"
            guardian = db.session.scalar(sa.select(User).where(User.phone == phone))
            if guardian is None:
                guardian = User(phone=phone, full_name=_name(rng), role=Role.PARENT, password_hash=None)
                db.session.add(guardian)
                db.session.flush()
            elif guardian.role != Role.PARENT:
                continue
        db.session.add(Guardian(pupil_id=pupil.id, user_id=guardian.id))
    db.session.flush()
    return cls, True


def _grades(cls: SchoolClass, terms, teacher_of: dict[int, User], rng: random.Random) -> int:
    pupils = db.session.scalars(
        sa.select(Pupil.id)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .where(Enrolment.class_id == cls.id)
    ).all()
    subjects = db.session.scalars(
        sa.select(Subject).where(Subject.school_id == cls.school_id, Subject.grade == cls.grade)
    ).all()
    now = utcnow()
    rows = []
    term = terms[0]
    for s in subjects:
        for pid in pupils:
            base = rng.uniform(5.5, 9.5)

            def score(spread=1.5, base=base):
                return Decimal(str(round(min(10.0, max(0.0, rng.gauss(base, spread))) * 2) / 2)).quantize(
                    Decimal("0.1")
                )

            common = {
                "pupil_id": pid,
                "subject_id": s.id,
                "term_id": term.id,
                "status": GradeStatus.PUBLISHED,
                "published_at": now,
                "updated_at": now,
                "updated_by_id": teacher_of.get(s.id).id if teacher_of.get(s.id) else None,
                "changed_after_publish": False,
            }
            if s.assessment == Assessment.PRIMARY:
                level = "HTT" if base > 8.3 else "HT" if base > 6 else "CHT"
                rows.append({**common, "kind": GradeKind.LEVEL, "seq": 1, "score": None, "mark": level})
                if s.has_test:
                    rows.append(
                        {
                            **common,
                            "kind": GradeKind.ENDTERM,
                            "seq": 1,
                            "score": Decimal(int(min(10, round(base + rng.uniform(-1, 1))))),
                            "mark": None,
                        }
                    )
            elif s.assessment == Assessment.COMMENT:
                for i in range(1, s.regular_count + 1):
                    rows.append(
                        {
                            **common,
                            "kind": GradeKind.REGULAR,
                            "seq": i,
                            "score": None,
                            "mark": "D" if rng.random() < 0.95 else "CD",
                        }
                    )
                rows.append({**common, "kind": GradeKind.MIDTERM, "seq": 1, "score": None, "mark": "D"})
                rows.append({**common, "kind": GradeKind.ENDTERM, "seq": 1, "score": None, "mark": "D"})
            else:
                for i in range(1, s.regular_count + 1):
                    rows.append(
                        {**common, "kind": GradeKind.REGULAR, "seq": i, "score": score(), "mark": None}
                    )
                rows.append(
                    {**common, "kind": GradeKind.MIDTERM, "seq": 1, "score": score(1.0), "mark": None}
                )
                rows.append(
                    {**common, "kind": GradeKind.ENDTERM, "seq": 1, "score": score(1.0), "mark": None}
                )
    if rows:
        db.session.execute(sa.insert(Grade), rows)
    return len(rows)


def _daily(cls: SchoolClass, terms, homeroom: User, rng: random.Random, child_id: int) -> None:
    pupils = db.session.scalars(
        sa.select(Pupil.id)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .where(Enrolment.class_id == cls.id)
    ).all()
    start = terms[0].starts_on
    for pid in rng.sample(list(pupils), k=min(5, len(pupils))) + [child_id]:
        day = start + timedelta(days=rng.randrange(7, 60))
        if day.weekday() >= 5:
            day -= timedelta(days=day.weekday() - 4)
        exists = db.session.scalar(
            sa.select(Attendance.id).where(Attendance.pupil_id == pid, Attendance.on_date == day)
        )
        if exists is None:
            db.session.add(
                Attendance(
                    pupil_id=pid,
                    class_id=cls.id,
                    on_date=day,
                    status=rng.choice([AttendanceStatus.LATE, *ABSENT]),
                    marked_by_id=homeroom.id,
                )
            )
    db.session.add(
        Comment(
            pupil_id=child_id,
            author_id=homeroom.id,
            kind=CommentKind.TERM,
            term_id=terms[0].id,
            body="Con chăm chỉ, hòa đồng với bạn bè; cần mạnh dạn phát biểu hơn.",
        )
    )
    db.session.add(
        Comment(
            pupil_id=child_id,
            author_id=homeroom.id,
            kind=CommentKind.NOTE,
            body="Hôm nay con quên vở bài tập, gia đình nhắc con chuẩn bị sách vở nhé.",
        )
    )
    db.session.flush()


def load_demo(ctx) -> dict[str, int]:
    year = current_year()
    schools = ctx["schools"]
    if year is None or "TH-DICHVONG" not in schools or "THCS-CAUGIAY" not in schools:
        return {}
    rng = random.Random(20262027)  # noqa: S311 - demo data, not security
    parent = db.session.scalar(sa.select(User).where(User.phone == PARENT_PHONE))
    lan = db.session.scalar(sa.select(User).where(User.email == "gv.lan@demo.edu.vn"))
    if parent is None or lan is None:
        return {}
    primary, secondary = schools["TH-DICHVONG"], schools["THCS-CAUGIAY"]
    terms_p = ensure_terms(primary, year)
    terms_s = ensure_terms(secondary, year)
    add_standard_subjects(primary, 1, standard_subjects(1))
    add_standard_subjects(secondary, 6, standard_subjects(6))

    c1, new1 = _class(primary, year, "1A", lan, rng, "DV26", 2020, parent, "Hoàng Minh Khang")
    head6 = _teacher("gv.hoa.caugiay@demo.edu.vn", "Vũ Thị Hoa", secondary, lan.password_hash)
    c6, new6 = _class(secondary, year, "6A1", head6, rng, "CG26", 2015, parent, "Hoàng Ngọc Anh")
    grades = 0
    if new1:
        subjects = db.session.scalars(
            sa.select(Subject).where(Subject.school_id == primary.id, Subject.grade == 1)
        ).all()
        for s in subjects:
            db.session.add(TeachingAssignment(class_id=c1.id, subject_id=s.id, teacher_id=lan.id))
        db.session.flush()
        grades += _grades(c1, terms_p, {s.id: lan for s in subjects}, rng)
        _daily(c1, terms_p, lan, rng, _first_pupil(c1))
        _qualities(c1, lan, rng)
    if new6:
        subjects = db.session.scalars(
            sa.select(Subject).where(Subject.school_id == secondary.id, Subject.grade == 6)
        ).all()
        math_teacher = _teacher("gv.toan.caugiay@demo.edu.vn", "Đặng Văn Toàn", secondary, lan.password_hash)
        teacher_of = {}
        for s in subjects:
            t = math_teacher if s.name in ("Toán", "Khoa học tự nhiên", "Tin học") else head6
            teacher_of[s.id] = t
            db.session.add(TeachingAssignment(class_id=c6.id, subject_id=s.id, teacher_id=t.id))
        db.session.flush()
        grades += _grades(c6, terms_s, teacher_of, rng)
        _daily(c6, terms_s, head6, rng, _first_pupil(c6))
    db.session.flush()
    return {
        "contactbook_classes": 2,
        "contactbook_grades": db.session.scalar(sa.select(sa.func.count(Grade.id))),
    }


def _qualities(cls: SchoolClass, teacher: User, rng: random.Random) -> None:
    """Term I's qualities and competences of a primary class (Circular 27), mostly Tốt."""
    pupils = db.session.scalars(sa.select(Enrolment.pupil_id).where(Enrolment.class_id == cls.id)).all()
    for pid in pupils:
        for point in (MID_1, END_1):
            levels = [
                QualityLevel(criterion=c, level=rng.choices("TDC", weights=(70, 27, 3))[0]) for c in CRITERIA
            ]
            comment = "Con ngoan, chăm chỉ, cần mạnh dạn phát biểu hơn." if point == END_1 else ""
            db.session.add(
                QualityEvaluation(
                    pupil_id=pid,
                    class_id=cls.id,
                    point=point,
                    comment=comment,
                    updated_by_id=teacher.id,
                    levels=levels,
                )
            )


def _first_pupil(cls: SchoolClass) -> int:
    return db.session.scalar(
        sa.select(Pupil.id)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .where(Enrolment.class_id == cls.id)
        .order_by(Pupil.pupil_code)
        .limit(1)
    )

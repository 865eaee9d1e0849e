"""A fresh installation without the demo loader: `db upgrade`, the first city
administrator, the first academic year, then a season and the Excel class import — each through
its ordinary entry point. Before the year exists the season has no year to choose and the class
import refuses; once it exists both work. Then the whole year: the summer's confirmed children
in September's grade-1 and kindergarten classes, a term of grades, the report cards and the
kindergarten's term report, the rollover, the next year made current and last year still
readable (read only)."""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO

import sqlalchemy as sa

from admissions.models import AdmissionLevel, AdmissionSeason
from app import jobs
from app.auth.services import passwords
from app.extensions import db
from app.models import AcademicYear, AuditLog, Role, School, User, Ward, utcnow
from contactbook.classes import class_subjects
from contactbook.models import Enrolment, Guardian, Pupil, SchoolClass, Term
from tests.admissions_factories import add_child_for, create_application, create_roster_entry
from tests.admissions_import_cases import EN, SCHOOL_ROWS, xlsx
from tests.contactbook_factories import classes_xlsx
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import create_user
from tests.pdftext import pdf_text

PASSWORD = "mot-hai-ba-bon-nam-sau"
PUPILS = [
    ["TH-DICHVONG", "1A", "HS001", "Nguyễn Văn An", "05/03/2020", "Nam", "Nguyễn Văn Bố", "0912000001", None],
    ["TH-DICHVONG", "1A", "HS002", "Trần Thị Bình", "12/11/2020", "Nữ", "Trần Văn Cha", "0912000002", None],
    ["THCS-CAUGIAY", "6A", "HS101", "Lê Minh Châu", "01/01/2016", "Nữ", "Lê Thị Mẹ", "0912000003", None],
]
TEACHERS = [
    ["TH-DICHVONG", "1A", "Toán", "Phạm Thị Lan", "lan@example.edu.vn", None, "có"],
    ["THCS-CAUGIAY", "6A", "Toán", "Vũ Thị Hoa", "hoa@example.edu.vn", None, "có"],
]


def test_a_fresh_install_creates_its_year_then_a_season_and_classes(
    app, runner, make_client, tmp_path, run_jobs
):
    assert db.session.scalar(sa.select(sa.func.count(AcademicYear.id))) == 0
    result = runner.invoke(
        args=[
            "users",
            "create-admin",
            "--email",
            "admin@so.edu.vn",
            "--name",
            "Nguyễn Quản Trị",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@so.edu.vn"))
    assert admin.role == Role.CITY_ADMIN

    schools = tmp_path / "schools.xlsx"
    schools.write_bytes(xlsx("schools", EN["schools"], SCHOOL_ROWS))
    result = runner.invoke(args=["admissions", "import-schools", str(schools)])
    assert result.exit_code == 0, result.output
    classes = tmp_path / "classes.xlsx"
    classes.write_bytes(classes_xlsx(PUPILS, TEACHERS))

    # Without a year: no year to choose for a season, and the class import refuses.
    client = make_client()
    assert client.login("admin@so.edu.vn", PASSWORD).status_code == 302
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    page = client.get("/admissions/office/seasons/new").get_data(as_text=True)
    assert "There is no academic year yet." in page and 'href="/admin/years/new"' in page
    refused = runner.invoke(args=["contactbook", "import-classes", str(classes)])
    assert refused.exit_code == 2 and "no current academic year" in refused.stderr

    # The admin creates the year on the page and makes it current.
    resp = client.post_form(
        "/admin/years/new",
        {"name": "2027-2028", "starts_on": "2027-09-05", "ends_on": "2028-05-31", "current": "y"},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    year = db.session.scalar(sa.select(AcademicYear))
    assert (year.name, year.is_current, year.term2_starts_on) == ("2027-2028", True, date(2028, 1, 16))

    # A season of that year.
    resp = client.post_form("/admissions/office/seasons/new", {"academic_year_id": year.id})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    season = db.session.scalar(sa.select(AdmissionSeason))
    assert season.academic_year_id == year.id

    # The Excel class import, uploaded on the contact book's page, lands in the current year.
    token = client.csrf("/contactbook/import")
    resp = client.post(
        "/contactbook/import",
        data={"csrf_token": token, "file": (BytesIO(classes.read_bytes()), "classes.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    run_jobs()
    body = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "rows imported: created" in body, body
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 3
    names = set(
        db.session.scalars(sa.select(SchoolClass.name).where(SchoolClass.academic_year_id == year.id))
    )
    assert names == {"1A", "6A"}
    assert (
        db.session.scalar(sa.select(sa.func.count(Enrolment.id)).where(Enrolment.academic_year_id == year.id))
        == 3
    )
    # Each school's terms follow the year's dates.
    school = db.session.scalar(sa.select(School).where(School.code == "TH-DICHVONG"))
    terms = db.session.scalars(
        sa.select(Term)
        .where(Term.school_id == school.id, Term.academic_year_id == year.id)
        .order_by(Term.number)
    ).all()
    assert [(t.starts_on, t.ends_on) for t in terms] == [
        (date(2027, 9, 5), date(2028, 1, 15)),
        (date(2028, 1, 16), date(2028, 5, 31)),
    ]
    actions = set(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.actor_id == admin.id)))
    assert {"year.create", "year.set_current", "admissions.season.create"} <= actions

    # Summer: children confirmed their places at the primary school and the kindergarten.
    confirmed = _confirm_children(season, year)
    jobs.commit()
    # September: each school's staff split the incoming pupils and confirm the classes.
    for code, count, names in (("TH-DICHVONG", 2, {"1A", "1B"}), ("MN-HOASEN", 1, {"MG5A"})):
        school = db.session.scalar(sa.select(School).where(School.code == code))
        url = f"/contactbook/schools/{school.id}/intake"
        assert client.post_form(url, {"action": "split", "count": str(count)}).status_code == 302
        resp = client.post_form(url, {"action": "confirm", "confirmed": "y"})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        db.session.expire_all()
        classes = db.session.scalars(
            sa.select(SchoolClass).where(
                SchoolClass.school_id == school.id, SchoolClass.academic_year_id == year.id
            )
        ).all()
        assert names <= {c.name for c in classes}
        for child, parent in confirmed[code]:
            pupil = db.session.scalar(
                sa.select(Pupil).where(
                    Pupil.school_id == school.id, Pupil.pupil_code == child.roster_entry.personal_id
                )
            )
            cls = db.session.scalar(
                sa.select(SchoolClass)
                .join(Enrolment, Enrolment.class_id == SchoolClass.id)
                .where(Enrolment.pupil_id == pupil.id, Enrolment.academic_year_id == year.id)
            )
            assert cls.name in names and cls.grade == (0 if code == "MN-HOASEN" else 1)
            assert db.session.scalar(
                sa.select(Guardian.id).where(Guardian.pupil_id == pupil.id, Guardian.user_id == parent.id)
            )
        # The parent sees the child in the contact book.
        child, parent = confirmed[code][0]
        family = make_client()
        family.login_as(parent)
        assert child.full_name in family.get("/contactbook/", follow_redirects=True).get_data(as_text=True)

    # Then the year runs: a term of grades and the report cards, the kindergarten's term report,
    # the rollover, and the switch to the next year with last year still readable.
    _a_term_of_grades_and_report_cards(client, make_client)
    kg_class = _the_kindergarten_term_report(client, make_client, confirmed["MN-HOASEN"][0])
    _rollover_to_the_next_year(client, make_client, year, kg_class)


def _confirm_children(season, year) -> dict[str, list]:
    """Confirmed applications (as the summer's rounds and the families' answers leave them)."""
    ward = db.session.scalar(sa.select(Ward).where(Ward.name == "Dịch Vọng"))
    out: dict[str, list] = {}
    for code, level_name, born in (("TH-DICHVONG", "grade1", 2021), ("MN-HOASEN", "kindergarten", 2022)):
        school = db.session.scalar(sa.select(School).where(School.code == code))
        level = db.session.scalar(
            sa.select(AdmissionLevel).where(
                AdmissionLevel.season_id == season.id, AdmissionLevel.level == level_name
            )
        )
        out[code] = []
        for i in range(3):
            entry = create_roster_entry(
                ward, level=level_name, dob=date(born, 2 + i, 3), gender="female" if i % 2 else "male"
            )
            parent = create_user("parent")
            child = add_child_for(parent, entry, season, level=level_name)
            app_ = create_application(child, level, parent, status="confirmed")
            app_.allocated_school_id = school.id
            out[code].append((child, parent))
    return out


def _signed_in(make_client, user):
    """A client of an imported account, as after its activation (a password set, the phone
    proven)."""
    user = db.session.get(User, user.id)
    user.password_hash, user.active = passwords().hash(FACTORY_PASSWORD), True
    if user.phone and user.phone_verified_at is None:
        user.phone_verified_at = utcnow()
    jobs.commit()
    client = make_client()
    client.login_as(user)
    return client


def _class(school_code: str, name: str, year) -> SchoolClass:
    return db.session.scalar(
        sa.select(SchoolClass)
        .join(School, School.id == SchoolClass.school_id)
        .where(School.code == school_code, SchoolClass.name == name, SchoolClass.academic_year_id == year.id)
    )


def _a_term_of_grades_and_report_cards(office, make_client):
    """Class 6A (imported with its math teacher as homeroom teacher): the term's grades entered
    and published on the grade book, the overall results confirmed; the family downloads the
    report card, the school prints the whole class."""
    year = db.session.scalar(sa.select(AcademicYear).where(AcademicYear.is_current))
    cls = _class("THCS-CAUGIAY", "6A", year)
    pupil = db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == "HS101"))
    term = db.session.scalar(
        sa.select(Term).where(
            Term.school_id == cls.school_id, Term.academic_year_id == year.id, Term.number == 1
        )
    )
    teacher = _signed_in(make_client, cls.homeroom_teacher)
    for subject in class_subjects(cls):
        url = f"/contactbook/classes/{cls.id}/grades/{subject.id}?term={term.id}"
        if subject.assessment == "scored":
            cells = {"regular-1": "8", "regular-2": "9", "regular-3": "7", "midterm-1": "8", "endterm-1": "9"}
        else:
            cells = {"regular-1": "D", "regular-2": "D", "midterm-1": "D", "endterm-1": "D"}
        data = {"csrf_token": teacher.csrf(url), "action": "save", "reason": ""}
        data.update({f"g-{pupil.id}-{k}": v for k, v in cells.items()})
        assert teacher.post(url, data=data).status_code == 302
        data["action"] = "publish"
        assert teacher.post(url, data=data).status_code == 302
    results = f"/contactbook/classes/{cls.id}/results?period=1"
    resp = teacher.post_form(results, {f"k-{pupil.id}": "T"}, token_from=results)
    assert resp.status_code == 302, resp.get_data(as_text=True)

    guardian = db.session.scalar(
        sa.select(User).join(Guardian, Guardian.user_id == User.id).where(Guardian.pupil_id == pupil.id)
    )
    family = _signed_in(make_client, guardian)
    pdf = family.get(f"/contactbook/children/{pupil.id}/report-card.pdf?term={term.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "Lê Minh Châu" in text and "8.4" in text, text
    whole = office.get(f"/contactbook/classes/{cls.id}/report-cards.pdf?term={term.id}")
    assert whole.status_code == 200 and "Lê Minh Châu" in pdf_text(whole.data)


def _the_kindergarten_term_report(office, make_client, confirmed) -> SchoolClass:
    """The kindergarten class made from the intake gets its homeroom teacher, who records the
    term's evaluation and a height and weight check; the family downloads the term report."""
    child, parent = confirmed
    year = db.session.scalar(sa.select(AcademicYear).where(AcademicYear.is_current))
    pupil = db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == child.roster_entry.personal_id))
    cls = db.session.scalar(
        sa.select(SchoolClass)
        .join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.pupil_id == pupil.id, Enrolment.academic_year_id == year.id)
    )
    homeroom = create_user("teacher", school=cls.school)
    cls.homeroom_teacher_id = homeroom.id
    jobs.commit()
    term = db.session.scalar(
        sa.select(Term).where(
            Term.school_id == cls.school_id, Term.academic_year_id == year.id, Term.number == 1
        )
    )
    teacher = make_client()
    teacher.login_as(homeroom)
    dev = f"/contactbook/classes/{cls.id}/development?term={term.id}"
    resp = teacher.post_form(
        dev, {f"result-{pupil.id}-language": "D", f"comment-{pupil.id}-language": "Kể chuyện mạch lạc"}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    growth = f"/contactbook/classes/{cls.id}/growth?date=2027-10-20"
    assert (
        teacher.post_form(growth, {f"height-{pupil.id}": "109", f"weight-{pupil.id}": "18,5"}).status_code
        == 302
    )

    family = make_client()
    family.login_as(parent)
    pdf = family.get(f"/contactbook/children/{pupil.id}/kindergarten-report.pdf?term={term.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert child.full_name in text and "Kể chuyện mạch lạc" in text and "109" in text
    whole = office.get(f"/contactbook/classes/{cls.id}/kindergarten-reports.pdf?term={term.id}")
    assert whole.status_code == 200 and child.full_name in pdf_text(whole.data)
    return cls


def _rollover_to_the_next_year(office, make_client, year, kg_class):
    """The admin creates the next year; each school rolls over; the admin makes the next year
    current. Last year's classes stay readable and refuse writes; the families follow."""
    resp = office.post_form(
        "/admin/years/new", {"name": "2028-2029", "starts_on": "2028-09-05", "ends_on": "2029-05-31"}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    following = db.session.scalar(sa.select(AcademicYear).where(AcademicYear.name == "2028-2029"))
    for code in ("TH-DICHVONG", "THCS-CAUGIAY", "MN-HOASEN"):
        school = db.session.scalar(sa.select(School).where(School.code == code))
        url = f"/contactbook/schools/{school.id}/rollover"
        resp = office.post_form(url, {"action": "confirm", "confirmed": "y"})
        assert resp.status_code == 302, (code, resp.get_data(as_text=True))
    resp = office.post_form("/admin/years/current", {"year_id": following.id}, token_from="/admin/years")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(AcademicYear, following.id).is_current
    assert not db.session.get(AcademicYear, year.id).is_current
    assert _class("THCS-CAUGIAY", "7A", following) and _class("TH-DICHVONG", "2A", following)
    assert _class("MN-HOASEN", kg_class.name, following) is None  # the kindergarten's children left

    # The family of 6A's pupil finds the child in 7A, and last year's report card is not lost.
    pupil = db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == "HS101"))
    guardian = db.session.scalar(
        sa.select(User).join(Guardian, Guardian.user_id == User.id).where(Guardian.pupil_id == pupil.id)
    )
    family = _signed_in(make_client, guardian)
    page = family.get(f"/contactbook/children/{pupil.id}").get_data(as_text=True)
    shown = re.sub(r"<[^>]*>", " ", page)  # the page's text: a random CSRF token may hold "6A"
    assert "7A" in shown and "6A" not in shown

    # Last year: readable, never writable.
    last = _class("THCS-CAUGIAY", "6A", year)
    teacher = _signed_in(make_client, last.homeroom_teacher)
    math = class_subjects(last)[0]
    book = teacher.get(f"/contactbook/classes/{last.id}/grades/{math.id}")
    assert book.status_code == 200 and 'name="reason"' not in book.get_data(as_text=True)
    attendance = f"/contactbook/classes/{last.id}/attendance?date=2027-10-01"
    assert teacher.get(attendance).status_code == 200
    assert teacher.post_form(attendance, {}, token_from=attendance).status_code == 403
    assert office.get(f"/contactbook/classes/{last.id}/report-cards").status_code == 200
    kg_teacher = make_client()
    kg_teacher.login_as(kg_class.homeroom_teacher)
    dev = f"/contactbook/classes/{kg_class.id}/development"
    page = kg_teacher.get(dev)
    assert page.status_code == 200 and "Kể chuyện mạch lạc" in page.get_data(as_text=True)
    assert kg_teacher.post_form(dev, {}, token_from=dev).status_code == 403
    assert office.get(f"/contactbook/classes/{kg_class.id}/kindergarten-reports").status_code == 200

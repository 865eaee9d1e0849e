"""A fresh installation without the demo loader: `db upgrade`, the first city
administrator, the first academic year, then a season and the Excel class import — each through
its ordinary entry point. Before the year exists the season has no year to choose and the class
import refuses; once it exists both work."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import sqlalchemy as sa

from admissions.models import AdmissionLevel, AdmissionSeason
from app import jobs
from app.extensions import db
from app.models import AcademicYear, AuditLog, Role, School, User, Ward
from contactbook.models import Enrolment, Guardian, Pupil, SchoolClass, Term
from tests.admissions_factories import add_child_for, create_application, create_roster_entry
from tests.contactbook_factories import classes_xlsx
from tests.factories import create_user
from tests.integration.test_admissions_import import EN, SCHOOL_ROWS, xlsx

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

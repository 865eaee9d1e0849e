"""Kindergarten (age 5, grade 0) in the contact book: the class import accepts its classes; the
homeroom teacher records the development evaluation and height and weight; no grades; the
family reads both on the child's page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from contactbook.kindergarten_models import DevelopmentEvaluation, GrowthCheck
from contactbook.models import Attendance, Enrolment, Pupil, SchoolClass, Term
from tests.contactbook_factories import classes_xlsx, create_class, create_pupil, create_year
from tests.factories import create_district, create_school, create_user
from tests.pdftext import pdf_text
from tests.querycount import count_queries

KG_PUPILS = [
    ["MN-A", "MG5A", "MN001", "Nguyễn Bé An", "05/03/2021", "Nam", "Nguyễn Văn Bố", "0912000101", None],
    ["MN-A", "Lá 2", "MN002", "Trần Bé Bình", "12/11/2021", "Nữ", "Trần Văn Cha", "0912000102", None],
]
KG_TEACHERS = [["MN-A", "MG5A", "", "Phạm Thị Cô", "co@example.edu.vn", None, "có"]]


def _run(runner, tmp_path, content: bytes):
    path = tmp_path / "classes.xlsx"
    path.write_bytes(content)
    return runner.invoke(args=["contactbook", "import-classes", str(path)])


def test_class_import_accepts_kindergarten_classes(app, runner, tmp_path):
    d = create_district()
    create_school(d, level="kindergarten", code="MN-A")
    create_school(d, level="grade1", code="TH-A")
    create_year()
    jobs.commit()
    result = _run(runner, tmp_path, classes_xlsx(KG_PUPILS, KG_TEACHERS))
    assert result.exit_code == 0, result.output
    classes = {c.name: c.grade for c in db.session.scalars(sa.select(SchoolClass))}
    assert classes == {"MG5A": 0, "LÁ2": 0}
    assert db.session.scalar(sa.select(sa.func.count(Enrolment.id))) == 2
    # A primary school has no kindergarten class, and a kindergarten no grade 1.
    wrong = [["TH-A", "MG5B", "TH009", "Lê Bé Cường", "01/01/2021", "Nam", "Lê Văn Bố", "0912000103", None]]
    wrong.append(["MN-A", "1A", "MN009", "Lê Bé Dung", "01/01/2021", "Nữ", "Lê Văn Bố", "0912000103", None])
    refused = _run(runner, tmp_path, classes_xlsx(wrong, KG_TEACHERS))
    assert refused.exit_code != 0 and "is not taught at school" in refused.output + refused.stderr
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 2


def _kg_world():
    d = create_district()
    school = create_school(d, level="kindergarten", code="MN-B")
    create_year()
    teacher = create_user("teacher", school=school)
    parent = create_user("parent")
    cls = create_class(school, "0MG5A", homeroom=teacher)  # the factory reads the grade in front
    cls.name = "MG5A"
    child = create_pupil(cls, guardians=[parent], full_name="Nguyễn Bé Na", dob=date(2021, 4, 2))
    other = create_pupil(cls, full_name="Trần Bé Tí", dob=date(2021, 6, 9))
    jobs.commit()
    return school, cls, teacher, parent, child, other


def _client(make_client, user):
    client = make_client()
    client.login_as(user)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    return client


def test_evaluation_growth_and_the_family_page(app, make_client):
    school, cls, teacher, parent, child, other = _kg_world()
    client = _client(make_client, teacher)
    teach = client.get("/contactbook/teach").get_data(as_text=True)
    dev_url = f"/contactbook/classes/{cls.id}/development"
    assert dev_url in teach and f"/contactbook/classes/{cls.id}/growth" in teach
    assert f"/contactbook/classes/{cls.id}/overview" not in teach

    # A comment without a result is refused and nothing is saved.
    bad = client.post_form(
        dev_url, {f"result-{child.id}-physical": "D", f"comment-{child.id}-language": "Nói tốt"}
    )
    assert bad.status_code == 422 and "Choose a result for this comment." in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(DevelopmentEvaluation.id))) == 0
    ok = client.post_form(
        dev_url,
        {
            f"result-{child.id}-physical": "D",
            f"result-{child.id}-language": "CD",
            f"comment-{child.id}-language": "Cần luyện phát âm",
            f"result-{other.id}-aesthetic": "D",
        },
    )
    assert ok.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(DevelopmentEvaluation.id))) == 3

    growth_url = f"/contactbook/classes/{cls.id}/growth?date=2026-10-15"
    half = client.post_form(growth_url, {f"height-{child.id}": "108,5"})
    assert half.status_code == 422 and "Enter both the height and the weight." in half.get_data(as_text=True)
    wild = client.post_form(growth_url, {f"height-{child.id}": "1085", f"weight-{child.id}": "18"})
    assert wild.status_code == 422 and "out of range" in wild.get_data(as_text=True)
    ok = client.post_form(growth_url, {f"height-{child.id}": "108,5", f"weight-{child.id}": "18.2"})
    assert ok.status_code == 302
    check = db.session.scalar(sa.select(GrowthCheck))
    assert (check.height_cm, check.weight_kg, str(check.measured_on)) == (
        Decimal("108.5"),
        Decimal("18.2"),
        "2026-10-15",
    )

    # Attendance and notes work as in any class.
    day = "2026-10-15"
    attendance = f"/contactbook/classes/{cls.id}/attendance?date={day}"
    assert client.get(attendance).status_code == 200
    marked = client.post_form(attendance, {f"s-{child.id}": "excused"}, token_from=attendance)
    assert marked.status_code == 302
    assert db.session.scalar(sa.select(Attendance.status).where(Attendance.pupil_id == child.id)) == "excused"
    assert client.get(f"/contactbook/pupils/{child.id}/notes").status_code == 200

    # No grades: the grade pages say so politely.
    refused = client.get(f"/contactbook/classes/{cls.id}/overview")
    assert refused.status_code == 409 and "kindergarten class" in refused.get_data(as_text=True)

    # The family reads both on the child's page, and no grade table.
    family = _client(make_client, parent)
    page = family.get(f"/contactbook/children/{child.id}").get_data(as_text=True)
    assert "Development evaluation" in page and "Cần luyện phát âm" in page and "Not yet achieved" in page
    assert "108.5" in page and "18.2" in page and "Published grades" not in page


def test_kindergarten_pages_are_the_homeroom_teachers_own(app, make_client):
    school, cls, teacher, parent, child, other = _kg_world()
    stranger = create_user("teacher", school=school)
    primary = create_class(create_school(create_district()), "1A", homeroom=stranger)
    jobs.commit()
    client = _client(make_client, stranger)
    assert client.get(f"/contactbook/classes/{cls.id}/development").status_code == 404
    assert client.get(f"/contactbook/classes/{primary.id}/development").status_code == 404  # not kindergarten


def _evaluation(child, other) -> dict[str, str]:
    return {
        f"result-{child.id}-physical": "D",
        f"result-{child.id}-language": "CD",
        f"comment-{child.id}-language": "Cần luyện phát âm",
        f"result-{other.id}-aesthetic": "D",
    }


def _evaluate(client, cls, child, other):
    dev_url = f"/contactbook/classes/{cls.id}/development"
    assert client.post_form(dev_url, _evaluation(child, other)).status_code == 302
    growth_url = f"/contactbook/classes/{cls.id}/growth?date=2026-10-15"
    resp = client.post_form(growth_url, {f"height-{child.id}": "108,5", f"weight-{child.id}": "18.2"})
    assert resp.status_code == 302


def test_the_term_report_for_the_family_and_the_whole_class(app, make_client):
    school, cls, teacher, parent, child, other = _kg_world()
    term1 = db.session.scalar(sa.select(Term).where(Term.school_id == school.id, Term.number == 1))
    _evaluate(_client(make_client, teacher), cls, child, other)

    family = _client(make_client, parent)
    page = family.get(f"/contactbook/children/{child.id}").get_data(as_text=True)
    report_url = f"/contactbook/children/{child.id}/kindergarten-report?term={term1.id}"
    assert report_url.replace("&", "&amp;") in page and "/report-card" not in page
    html = family.get(report_url).get_data(as_text=True)
    assert child.full_name in html and other.full_name not in html and "Cần luyện phát âm" in html
    assert "Not yet achieved" in html and "108.5" in html and "Term average" not in html
    pdf = family.get(f"/contactbook/children/{child.id}/kindergarten-report.pdf?term={term1.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = pdf_text(pdf.data)
    assert child.full_name in text and "Cần luyện phát âm" in text and "108.5" in text
    assert other.full_name not in text and "Download as PDF" not in text
    # Another child (not hers), and the grade report card of a kindergarten child: 404.
    assert family.get(f"/contactbook/children/{other.id}/kindergarten-report").status_code == 404
    assert family.get(f"/contactbook/children/{other.id}/kindergarten-report.pdf").status_code == 404

    # The school prints the whole class: one report per child, in a fixed number of queries.
    staff = _client(make_client, create_user("school_staff", school=school))
    whole = f"/contactbook/classes/{cls.id}/kindergarten-reports?term={term1.id}"
    with count_queries(app) as few:
        html = staff.get(whole).get_data(as_text=True)
    assert html.count('class="card"') == 2 and child.full_name in html and other.full_name in html
    for i in range(4):
        create_pupil(cls, full_name=f"Lê Bé Số {i}", dob=date(2021, 7, 1 + i))
    jobs.commit()
    with count_queries(app) as more:
        html = staff.get(whole).get_data(as_text=True)
    assert html.count('class="card"') == 6 and more.count == few.count
    pdf = staff.get(f"/contactbook/classes/{cls.id}/kindergarten-reports.pdf?term={term1.id}")
    text = pdf_text(pdf.data)
    assert child.full_name in text and other.full_name in text and "Lê Bé Số 3" in text


# Who may open each kindergarten page (GET, then a POST where the page saves): the homeroom
# teacher writes; the school's and the district's staff read (a write: 403); another teacher of
# the school and another school's staff: 404; parents: 403 (not a role of these pages).
KG_ROUTES = ["development", "growth", "kindergarten-reports"]


def test_kindergarten_pages_route_by_role(app, make_client):
    school, cls, teacher, parent, child, other = _kg_world()
    _evaluate(_client(make_client, teacher), cls, child, other)
    elsewhere = create_school(create_district(), level="kindergarten", code="MN-C")
    jobs.commit()
    readers = {
        "homeroom": (teacher, 200, 302),
        "school_staff": (create_user("school_staff", school=school), 200, 403),
        "district_officer": (create_user("district_officer", district=school.district), 200, 403),
        "city_admin": (create_user("city_admin"), 200, 403),
        "other_teacher": (create_user("teacher", school=school), 404, 404),
        "other_staff": (create_user("school_staff", school=elsewhere), 404, 404),
        "parent": (parent, 403, 403),  # not a role of these pages
    }
    form = {**_evaluation(child, other), f"height-{child.id}": "109", f"weight-{child.id}": "18.5"}
    for who, (user, get_status, post_status) in readers.items():
        client = _client(make_client, user)
        for route in KG_ROUTES:
            url = f"/contactbook/classes/{cls.id}/{route}"
            page = client.get(url)
            assert page.status_code == get_status, (who, route, page.status_code)
            if route != "kindergarten-reports":
                token = client.csrf("/home")
                resp = client.post(url + "?date=2026-10-16", data={"csrf_token": token, **form})
                assert resp.status_code == post_status, (who, route, resp.status_code)
        if get_status == 200 and who != "homeroom":
            # Read only: the saved entries as text, no field to type in, no save button.
            page = client.get(f"/contactbook/classes/{cls.id}/development").get_data(as_text=True)
            assert "Cần luyện phát âm" in page and "Read only." in page
            assert 'name="comment-' not in page and 'type="submit" class="button">Save' not in page
            page = client.get(f"/contactbook/classes/{cls.id}/growth?date=2026-10-15").get_data(as_text=True)
            assert "108.5" in page and f'name="height-{child.id}"' not in page
    # The staff's reads are written to the audit log.
    assert db.session.scalar(
        sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "contactbook.view_kg")
    )
    # Anonymous: to the sign-in page.
    anonymous = make_client()
    for route in KG_ROUTES:
        resp = anonymous.get(f"/contactbook/classes/{cls.id}/{route}")
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")

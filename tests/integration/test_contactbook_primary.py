"""Primary classes by Circular 27: the homeroom teacher enters the qualities and competences of the
whole class at each point of the year (checked, nothing written when one entry is refused), and
confirms the year results (computed from term II of the grade book; another result only with a
reason; audited; families told); the family sees both on the child's page and report card (page
and PDF); the school's staff read; nobody else sees them."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.notifications.models import Notification
from contactbook import privacy
from contactbook.catalog import standard_subjects
from contactbook.circulars import CRITERIA
from contactbook.primary import current_point
from contactbook.primary_models import PrimaryYearResult, QualityEvaluation, QualityLevel
from tests.contactbook_factories import (
    add_grade,
    assign,
    create_class,
    create_pupil,
    create_school,
    create_subject,
    create_user,
    secondary_setup,
    terms_of,
)
from tests.pdftext import pdf_pages, pdf_text
from tests.querycount import count_queries


def primary_setup():
    """Primary class 1A: its homeroom teacher teaches Tiếng Việt and Toán (tested) and Đạo đức;
    three pupils, the first one the parent's."""
    school = create_school(level="grade1")
    teacher = create_user("teacher", school=school)
    cls = create_class(school, "1A", homeroom=teacher)
    subjects = [
        create_subject(school, 1, "Tiếng Việt", has_test=True),
        create_subject(school, 1, "Toán", has_test=True),
        create_subject(school, 1, "Đạo đức", has_test=False),
    ]
    for s in subjects:
        assign(teacher, cls, s)
    parent = create_user("parent")
    pupils = [create_pupil(cls, guardians=[parent] if i == 0 else [create_user("parent")]) for i in range(3)]
    return {
        "school": school,
        "teacher": teacher,
        "cls": cls,
        "subjects": subjects,
        "parent": parent,
        "pupils": pupils,
        "terms": terms_of(cls),
    }


def _term2(s, pupil, levels, tests):
    term2 = s["terms"][1]
    for subject, level in zip(s["subjects"], levels, strict=True):
        add_grade(pupil, subject, term2, "level", level)
    for subject, score in zip(s["subjects"], tests, strict=False):
        add_grade(pupil, subject, term2, "endterm", score)


def _grid(pupils, level="T", comment="Con chăm ngoan, lễ phép."):
    form = {}
    for p in pupils:
        form.update({f"q-{p.id}-{c}": level for c in CRITERIA})
        form[f"comment-{p.id}"] = comment
    return form


def _saved():
    db.session.expire_all()
    return {
        (e.pupil_id, e.point): (e.comment, {lv.criterion: lv.level for lv in e.levels})
        for e in db.session.scalars(sa.select(QualityEvaluation))
    }


def test_the_homeroom_teacher_enters_the_qualities_and_competences_of_the_class(app, make_client):
    s = primary_setup()
    a, b, c = s["pupils"]
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    url = f"/contactbook/classes/{s['cls'].id}/qualities?point=gk1"
    page = teacher.get(url).get_data(as_text=True)
    assert "Giữa học kỳ I" in page and "Giải quyết vấn đề và sáng tạo" in page and a.full_name in page
    assert page.count("<select") == 3 * 15

    # One wrong cell and one comment too long: nothing is written, each named in Vietnamese.
    form = {**_grid([a, b]), f"q-{b.id}-nhan_ai": "K", f"comment-{c.id}": "x" * 501}
    resp = teacher.post_form(url, form, token_from=url)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and _saved() == {}
    assert "Hãy chọn Tốt, Đạt hoặc Cần cố gắng." in html and "Nhận xét quá dài" in html
    assert f'id="q-{b.id}-nhan_ai" name="q-{b.id}-nhan_ai"' in html and 'aria-invalid="true"' in html

    # Pupil c not assessed yet: no record for it; a and b saved, the step audited.
    form = {**_grid([a, b]), f"q-{b.id}-the_chat": "C", f"q-{b.id}-tin_hoc": ""}
    assert teacher.post_form(url, form, token_from=url).status_code == 302
    saved = _saved()
    assert set(saved) == {(a.id, "gk1"), (b.id, "gk1")}
    assert saved[(a.id, "gk1")] == ("Con chăm ngoan, lễ phép.", dict.fromkeys(CRITERIA, "T"))
    assert saved[(b.id, "gk1")][1]["the_chat"] == "C" and "tin_hoc" not in saved[(b.id, "gk1")][1]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.primary_evaluation"))
    assert entry.details == {"point": "gk1", "changed": 2} and entry.actor_id == s["teacher"].id
    page = teacher.get(url).get_data(as_text=True)
    assert page.count('value="T" title="Tốt" selected') == 15 + 13

    # Cleared: the evaluation goes; another point is kept apart.
    form = {**_grid([a, b], level=""), f"comment-{a.id}": "", f"comment-{b.id}": ""}
    form[f"q-{b.id}-yeu_nuoc"] = "D"
    assert teacher.post_form(url, form, token_from=url).status_code == 302
    other = f"/contactbook/classes/{s['cls'].id}/qualities?point=cn"
    assert teacher.post_form(other, _grid([c], "D", ""), token_from=other).status_code == 302
    saved = _saved()
    assert set(saved) == {(b.id, "gk1"), (c.id, "cn")} and saved[(b.id, "gk1")] == ("", {"yeu_nuoc": "D"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QualityLevel)) == 1 + 15
    assert teacher.get(f"/contactbook/classes/{s['cls'].id}/qualities?point=ck2").status_code == 404


def test_the_year_results_are_confirmed_and_the_family_sees_them(app, make_client):
    s = primary_setup()
    star, fine, weak = s["pupils"]
    _term2(s, star, ["HTT", "HTT", "HTT"], [10, 9])  # all Tốt, tests ≥ 9 → Hoàn thành xuất sắc
    _term2(s, fine, ["HTT", "HT", "HT"], [8, 6])  # → Hoàn thành
    _term2(s, weak, ["HT", "CHT", "HT"], [4, 6])  # → Chưa hoàn thành
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    cn = f"/contactbook/classes/{s['cls'].id}/qualities?point=cn"
    form = {**_grid([star, fine], "T"), **_grid([weak], "D")}
    del form[f"q-{weak.id}-the_chat"]  # one competence not assessed yet
    assert teacher.post_form(cn, form, token_from=cn).status_code == 302

    url = f"/contactbook/classes/{s['cls'].id}/primary-results"
    page = teacher.get(url).get_data(as_text=True)
    assert "Hoàn thành xuất sắc" in page and "1 chưa đánh giá" in page and "chưa đủ dữ liệu" in page
    resp = teacher.post_form(url, {}, token_from=url)
    assert resp.status_code == 422 and "Chưa tính được kết quả cuối năm" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PrimaryYearResult)) == 0

    form[f"q-{weak.id}-the_chat"] = "C"
    assert teacher.post_form(cn, form, token_from=cn).status_code == 302
    # Another result than the computed one: refused without a reason, kept with one.
    choice = {f"result-{fine.id}": "HTT", f"reason-{fine.id}": "ngắn"}
    resp = teacher.post_form(url, choice, token_from=url)
    assert resp.status_code == 422 and "cần ghi lý do" in resp.get_data(as_text=True)
    choice[f"reason-{fine.id}"] = "Tiến bộ vượt bậc trong học kỳ 2, đạt giải viết chữ đẹp"
    assert teacher.post_form(url, choice, token_from=url).status_code == 302
    db.session.expire_all()
    stored = {
        r.pupil_id: (r.proposed, r.result, r.reason) for r in db.session.scalars(sa.select(PrimaryYearResult))
    }
    assert stored == {
        star.id: ("HTXS", "HTXS", ""),
        fine.id: ("HT", "HTT", "Tiến bộ vượt bậc trong học kỳ 2, đạt giải viết chữ đẹp"),
        weak.id: ("CHT", "CHT", ""),
    }
    entry = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "contactbook.primary_results.confirm")
    )
    assert entry.details["changed"] == 3 and entry.details["overridden"] == 1
    assert entry.details["changes"][str(fine.id)]["after"] == {
        "proposed": "HT",
        "result": "HTT",
        "overridden": True,
    }
    told = db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book")).all()
    assert len(told) == 3
    # Confirming again unchanged tells nobody (the override is kept on the page).
    assert f'name="reason-{fine.id}" value="Tiến bộ' in teacher.get(url).get_data(as_text=True)
    assert (
        teacher.post_form(url, {f"reason-{fine.id}": choice[f"reason-{fine.id}"]}, token_from=url).status_code
        == 302
    )
    assert (
        len(db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book")).all()) == 3
    )

    # The family: the child's page and the report card of term II (page and PDF).
    parent = make_client()
    parent.login_as(s["parent"])
    child = parent.get(f"/contactbook/children/{star.id}").get_data(as_text=True)
    assert "Kết quả cuối năm: Hoàn thành xuất sắc" in child and "Trung thực" in child
    assert "Con chăm ngoan, lễ phép." in child and "Cuối năm học" in child
    term2 = s["terms"][1]
    card = parent.get(f"/contactbook/children/{star.id}/report-card?term={term2.id}").get_data(as_text=True)
    assert "Phẩm chất, năng lực" in card and "Tự chủ và tự học" in card and "Hoàn thành xuất sắc" in card
    assert card.count(">Tốt<") == 15  # the end of the year; mid-term II not assessed: —
    pdf = parent.get(f"/contactbook/children/{star.id}/report-card.pdf?term={term2.id}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    text = " ".join(pdf_text(pdf.data).split())
    assert "Giải quyết vấn đề và sáng tạo" in text and "Hoàn thành xuất sắc" in text
    # Another family's child: 404.
    assert parent.get(f"/contactbook/children/{fine.id}/report-card").status_code == 404
    # The family's download of its personal data holds them too.
    download = {(s["title"], s["about"]): s["rows"] for s in privacy.sections(s["parent"])}
    assert len(download[("Qualities and competences", star.full_name)]) == 15
    assert download[("Year results (Circular 27)", star.full_name)][0]["result"] == "HTXS"


def test_the_class_report_cards_load_the_qualities_in_a_fixed_number_of_queries(app, make_client):
    s = primary_setup()
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    cn = f"/contactbook/classes/{s['cls'].id}/qualities?point=cn"
    assert teacher.post_form(cn, _grid(s["pupils"], "D"), token_from=cn).status_code == 302
    whole = f"/contactbook/classes/{s['cls'].id}/report-cards?term={s['terms'][1].id}"
    with count_queries(app) as few:
        html = teacher.get(whole).get_data(as_text=True)
    assert html.count(">Đạt<") == 3 * 15
    for _ in range(4):
        create_pupil(s["cls"], guardians=[create_user("parent")])
    jobs.commit()
    assert teacher.post_form(cn, _grid(s["pupils"], "D"), token_from=cn).status_code == 302
    with count_queries(app) as more:
        teacher.get(whole)
    assert more.count == few.count


def test_only_the_homeroom_teacher_enters_and_the_school_staff_read(app, make_client):
    s = primary_setup()
    subject_teacher = create_user("teacher", school=s["school"])
    assign(subject_teacher, s["cls"], create_subject(s["school"], 1, "Âm nhạc"))
    sec = secondary_setup()
    jobs.commit()
    for path in ("qualities", "primary-results"):
        url = f"/contactbook/classes/{s['cls'].id}/{path}"
        for user in (subject_teacher, create_user("teacher", school=s["school"]), s["parent"]):
            other = make_client()
            other.login_as(user)
            assert other.get(url).status_code in (403, 404), (path, user.role)
        staff = make_client()
        staff.login_as(create_user("school_staff", school=s["school"]))
        assert staff.get(url).status_code == 200
        viewed = db.session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "contactbook.view_grades")
        ).all()
        assert viewed[-1].target_id == str(s["cls"].id) and viewed[-1].actor_id is not None
        assert "<select" not in staff.get(url).get_data(as_text=True)
        assert staff.post_form(url, {}, token_from=url).status_code == 403
        other_school = make_client()
        other_school.login_as(create_user("school_staff", school=sec["school"]))
        assert other_school.get(url).status_code == 404
        # A lower-secondary class has its Circular 22 results instead.
        teacher = make_client()
        teacher.login_as(sec["teacher"])
        assert teacher.get(f"/contactbook/classes/{sec['cls'].id}/{path}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QualityEvaluation)) == 0


def test_the_page_opens_at_the_point_of_the_running_half_term(app):
    s = primary_setup()
    first, second = s["terms"]
    assert current_point(s["cls"], first.starts_on) == "gk1"
    assert current_point(s["cls"], first.ends_on) == "ck1"
    assert current_point(s["cls"], second.starts_on + timedelta(days=1)) == "gk2"
    assert current_point(s["cls"], second.ends_on + timedelta(days=30)) == "cn"  # summer: the year's end


def test_a_grade_five_report_card_of_term_two_fits_one_sheet(app, make_client):
    """Eleven subjects, the fifteen criteria at two points, comments and the year result: one A4
    sheet per pupil (the class's PDF prints one card per sheet)."""
    school = create_school(level="grade1")
    teacher = create_user("teacher", school=school)
    cls = create_class(school, "5A", homeroom=teacher)
    for subject in standard_subjects(5):
        assign(teacher, cls, create_subject(school, 5, subject.name, has_test=subject.has_test))
    pupils = [create_pupil(cls, guardians=[create_user("parent")]) for _ in range(2)]
    jobs.commit()
    client = make_client()
    client.login_as(teacher)
    for point in ("gk2", "cn"):
        url = f"/contactbook/classes/{cls.id}/qualities?point={point}"
        form = _grid(
            pupils,
            "T",
            "Con tiến bộ rõ rệt, mạnh dạn phát biểu, giúp đỡ bạn bè trong học tập; cần cẩn thận hơn khi làm bài.",
        )
        assert client.post_form(url, form, token_from=url).status_code == 302
    term2 = terms_of(cls)[1]
    pdf = client.get(f"/contactbook/classes/{cls.id}/report-cards.pdf?term={term2.id}")
    assert pdf.status_code == 200
    assert pdf_pages(pdf.data) == 2


def test_the_homeroom_teachers_page_leads_to_the_primary_assessments(app, make_client):
    s = primary_setup()
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    page = teacher.get("/contactbook/teach").get_data(as_text=True)
    assert f"/contactbook/classes/{s['cls'].id}/qualities" in page
    assert f"/contactbook/classes/{s['cls'].id}/primary-results" in page
    overview = teacher.get(f"/contactbook/classes/{s['cls'].id}/overview").get_data(as_text=True)
    assert "Phẩm chất, năng lực (Thông tư 27)" in overview

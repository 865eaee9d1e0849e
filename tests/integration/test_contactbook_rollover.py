"""Rollover: school staff prepare next year's classes from this year's — a
preview with counts, then one confirmed, audited step; promoted pupils, pupils kept back, leavers
of the last grade, 6A → 7A by default (editable), guardians and homeroom teachers carried over."""

from __future__ import annotations

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.years import set_current
from contactbook.access import current_class_of
from contactbook.models import Enrolment, Guardian, Pupil, SchoolClass, TeachingAssignment, Term
from tests.contactbook_factories import assign, create_class, create_pupil, create_subject, create_year
from tests.factories import create_district, create_school, create_user


def _setup(next_year=True):
    school = create_school(create_district(), level="grade6", code="THCS-A")
    this_year = create_year("2026-2027")
    following = create_year("2027-2028", current=False) if next_year else None
    teacher = create_user("teacher", school=school)
    parent = create_user("parent")
    c6a = create_class(school, "6A", year=this_year, homeroom=teacher)
    c6b = create_class(school, "6B", year=this_year)
    c9a = create_class(school, "9A", year=this_year)
    pupils = {
        "HS001": create_pupil(c6a, code="HS001", guardians=[parent]),
        "HS002": create_pupil(c6a, code="HS002"),
        "HS003": create_pupil(c6a, code="HS003"),
        "HS004": create_pupil(c6b, code="HS004"),
        "HS901": create_pupil(c9a, code="HS901"),
        "HS902": create_pupil(c9a, code="HS902"),
    }
    maths = create_subject(school, 6, "Toán")
    assign(teacher, c6a, maths)
    staff = create_user("school_staff", school=school)
    jobs.commit()
    return school, this_year, following, staff, pupils, parent


def _client(make_client, user):
    client = make_client()
    client.login_as(user)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    return client


def _count(model, *where):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_preview_then_confirmed_rollover(app, make_client):
    school, this_year, following, staff, pupils, parent = _setup()
    client = _client(make_client, staff)
    url = f"/contactbook/schools/{school.id}/rollover"
    c6a = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "6A"))
    c6b = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "6B"))

    page = client.get(url).get_data(as_text=True)
    assert "From 2026-2027 to 2027-2028" in page
    assert f'name="name-{c6a.id}" value="7A"' in page and f'name="name-{c6b.id}" value="7B"' in page
    assert "<strong>2</strong> classes next year" in page and "<strong>4</strong> pupils promoted" in page
    assert (
        "<strong>2</strong> pupils leaving" in page and "Last grade: these pupils leave the school." in page
    )
    assert f"/contactbook/schools/{school.id}/rollover" in client.get(
        f"/contactbook/schools/{school.id}"
    ).get_data(as_text=True)

    edits = {f"name-{c6a.id}": "7A1", f"keep-{c6a.id}": "hs002", f"name-{c6b.id}": "7B"}
    preview = client.post_form(url, {**edits, "action": "preview"})
    assert preview.status_code == 200
    body = preview.get_data(as_text=True)
    assert "<strong>3</strong> pupils promoted" in body and "<strong>1</strong> pupils kept back" in body

    # Problems are shown on their class and nothing can be confirmed.
    bad = client.post_form(
        url, {**edits, f"keep-{c6a.id}": "HS002, HS999", "action": "confirm", "confirmed": "y"}
    )
    assert bad.status_code == 422 and "Some of these codes are not pupils of this class." in bad.get_data(
        as_text=True
    )
    twice = client.post_form(url, {**edits, f"name-{c6b.id}": "7a1", "action": "confirm", "confirmed": "y"})
    assert twice.status_code == 422 and "Two classes would have this name next year." in twice.get_data(
        as_text=True
    )
    unticked = client.post_form(url, {**edits, "action": "confirm"})
    assert unticked.status_code == 422 and "Tick the box to confirm." in unticked.get_data(as_text=True)
    assert _count(Enrolment, Enrolment.academic_year_id == following.id) == 0

    done = client.post_form(url, {**edits, "action": "confirm", "confirmed": "y"})
    assert done.status_code == 302
    flash = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "3 classes, 3 pupils promoted, 1 kept back, 2 leaving" in flash

    db.session.expire_all()
    new = {
        c.name: c
        for c in db.session.scalars(
            sa.select(SchoolClass).where(SchoolClass.academic_year_id == following.id)
        )
    }
    assert {n: c.grade for n, c in new.items()} == {"7A1": 7, "7B": 7, "6A": 6}
    assert new["7A1"].homeroom_teacher_id == c6a.homeroom_teacher_id and new["6A"].homeroom_teacher_id is None

    def next_class(code):
        return db.session.scalar(
            sa.select(SchoolClass.name)
            .join(Enrolment, Enrolment.class_id == SchoolClass.id)
            .where(Enrolment.pupil_id == pupils[code].id, Enrolment.academic_year_id == following.id)
        )

    assert [next_class(c) for c in ("HS001", "HS002", "HS003", "HS004", "HS901", "HS902")] == [
        "7A1",
        "6A",
        "7A1",
        "7B",
        None,
        None,
    ]
    # This year's records are untouched; guardians are the same rows; the school has next year's terms.
    assert _count(Enrolment, Enrolment.academic_year_id == this_year.id) == 6
    assert _count(Guardian, Guardian.user_id == parent.id) == 1
    assert _count(Term, Term.school_id == school.id, Term.academic_year_id == following.id) == 2
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.rollover"))
    assert entry.actor_id == staff.id and entry.details == {
        "source_year_id": this_year.id,
        "target_year_id": following.id,
        "classes": 3,
        "promoted": 3,
        "kept_back": 1,
        "leaving": 2,
        "teaching": 1,
    }
    # The subject teacher follows the class: grade 7's Toán, created from the national catalogue.
    carried = db.session.scalar(
        sa.select(TeachingAssignment).where(TeachingAssignment.class_id == new["7A1"].id)
    )
    assert (carried.teacher_id, carried.subject.name, carried.subject.grade) == (
        c6a.homeroom_teacher_id,
        "Toán",
        7,
    )
    assert carried.subject.assessment == "scored"

    # Once only; and when the new year becomes current the contact book finds the new classes.
    again = client.get(url).get_data(as_text=True)
    assert "This school&#39;s classes of 2027-2028 are already prepared." in again
    assert client.post_form(url, {**edits, "action": "confirm", "confirmed": "y"}).status_code == 200
    assert _count(SchoolClass, SchoolClass.academic_year_id == following.id) == 3
    set_current(following)
    jobs.commit()
    with app.test_request_context():
        assert current_class_of(pupils["HS001"].id).name == "7A1"
    # The guardian's account reaches the child in the new class, and last year's stays readable.
    family = _client(make_client, parent)
    child = family.get(f"/contactbook/children/{pupils['HS001'].id}")
    assert child.status_code == 200 and "7A1" in child.get_data(as_text=True)
    old_class = db.session.scalar(
        sa.select(SchoolClass).where(SchoolClass.name == "6A", SchoolClass.academic_year_id == this_year.id)
    )
    assert _client(make_client, staff).get(f"/contactbook/classes/{old_class.id}").status_code == 200


def test_rollover_needs_the_next_year(app, make_client):
    school, _, _, staff, _, _ = _setup(next_year=False)
    client = _client(make_client, staff)
    page = client.get(f"/contactbook/schools/{school.id}/rollover").get_data(as_text=True)
    assert "The academic year after 2026-2027 does not exist yet" in page
    resp = client.post_form(
        f"/contactbook/schools/{school.id}/rollover", {"action": "confirm", "confirmed": "y"}
    )
    assert resp.status_code == 200 and _count(SchoolClass) == 3


def test_last_years_classes_are_read_only_after_the_switch(app, make_client):
    school, this_year, following, staff, pupils, _ = _setup()
    c6a = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "6A"))
    teacher = c6a.homeroom_teacher
    math = db.session.scalar(
        sa.select(TeachingAssignment).where(TeachingAssignment.class_id == c6a.id)
    ).subject
    client = _client(make_client, teacher)
    day = "2027-03-01"
    attendance = f"/contactbook/classes/{c6a.id}/attendance?date={day}"
    book = f"/contactbook/classes/{c6a.id}/grades/{math.id}"
    assert client.get(attendance).status_code == 200
    assert 'name="reason"' in client.get(book).get_data(as_text=True)

    set_current(following)
    jobs.commit()
    assert client.get(attendance).status_code == 200  # still readable
    assert client.post_form(attendance, {}, token_from=attendance).status_code == 403
    page = client.get(book)
    assert page.status_code == 200 and 'name="reason"' not in page.get_data(as_text=True)
    assert client.post_form(book, {}, token_from=book).status_code in (403, 404)
    staff_client = _client(make_client, staff)
    assert staff_client.get(f"/contactbook/classes/{c6a.id}").status_code == 200


def test_the_homeroom_teacher_marks_repeaters_and_leavers_are_archived(app, make_client):
    school, this_year, following, staff, pupils, parent = _setup()
    c6a = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "6A"))
    c9a = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "9A"))
    teacher = c6a.homeroom_teacher
    marks = f"/contactbook/classes/{c6a.id}/repeaters"
    client = _client(make_client, teacher)
    assert marks in client.get("/contactbook/teach").get_data(as_text=True)
    page = client.get(marks).get_data(as_text=True)
    assert "HS001" in page and "HS004" not in page  # only the class's own pupils
    # HS004 is in 6B: ignored; HS003 repeats.
    ids = [str(pupils["HS003"].id), str(pupils["HS004"].id)]
    resp = client.post_form(marks, {"pupil": ids})
    assert resp.status_code == 302
    assert "1 pupils repeat the grade" in client.get(marks).get_data(as_text=True)
    # Another class's homeroom (none) or a foreign class: not found.
    assert client.get(f"/contactbook/classes/{c9a.id}/repeaters").status_code == 404
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.repeaters"))
    assert entry.details == {"pupils": [pupils["HS003"].id]}

    # The rollover's preview keeps them back by default and counts them.
    url = f"/contactbook/schools/{school.id}/rollover"
    office = _client(make_client, staff)
    preview = office.get(url).get_data(as_text=True)
    assert f'name="keep-{c6a.id}" aria-describedby="keep-{c6a.id}-hint" value="HS003"' in preview
    assert "<strong>1</strong> pupils kept back" in preview
    done = office.post_form(url, {f"keep-{c6a.id}": "HS003", "action": "confirm", "confirmed": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    kept = db.session.scalar(
        sa.select(SchoolClass.name)
        .join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.pupil_id == pupils["HS003"].id, Enrolment.academic_year_id == following.id)
    )
    assert kept == "6A"
    # The leavers of grade 9 are archived with a mark, not deleted; last year's class shows it.
    left = {p.pupil_code: p.left_at for p in db.session.scalars(sa.select(Pupil))}
    assert left["HS901"] and left["HS902"] and not left["HS001"] and not left["HS003"]
    roster = office.get(f"/contactbook/classes/{c9a.id}").get_data(as_text=True)
    assert roster.count("Left the school") == 2

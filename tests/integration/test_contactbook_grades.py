"""Grade book: scope (a teacher of class A can neither see nor grade class B), whole-class entry
with validation (422, errors beside cells, nothing stored), draft → published, changes to
published grades (reason, history, audit), Excel export/import round trip, bounded queries."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import openpyxl
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.notifications import tasks as notification_tasks
from app.notifications.models import Notification
from contactbook.classes import class_pupils
from contactbook.models import Grade, GradeChange
from tests.contactbook_factories import create_pupil, create_user, secondary_setup
from tests.querycount import count_queries


def _url(cls, subject, term=None):
    return f"/contactbook/classes/{cls.id}/grades/{subject.id}" + (f"?term={term.id}" if term else "")


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _post(client, url, cells: dict, action="save", reason=""):
    data = {"csrf_token": client.csrf(url), "action": action, "reason": reason}
    data.update(cells)
    return client.post(url, data=data)


def _grades(**where):
    return db.session.scalars(
        sa.select(Grade).filter_by(**where).order_by(Grade.pupil_id, Grade.kind, Grade.seq)
    ).all()


def test_teacher_of_class_a_can_neither_see_nor_grade_class_b(app, world, cb_world, make_client):
    teacher = _client(make_client, world["users"]["teacher"])
    own = _url(cb_world["a1"], cb_world["math_a"])
    assert teacher.get(own).status_code == 200
    # Class 1B of the same school (another teacher's), and class 1A of school B.
    for cls, subject in (
        (cb_world["a2"], cb_world["math_a"]),
        (cb_world["b1"], cb_world["math_b"]),
        (cb_world["a1"], cb_world["math_b"]),
    ):
        url = _url(cls, subject)
        assert teacher.get(url).status_code == 404, url
        token = teacher.csrf(own)
        pupil = cb_world["a2_pupil"] if cls is cb_world["a2"] else cb_world["b_pupil"]
        resp = teacher.post(url, data={"csrf_token": token, f"g-{pupil.id}-level-1": "HTT"})
        assert resp.status_code == 404, url
        assert teacher.get(url + "/export.xlsx").status_code == 404
    assert teacher.get(f"/contactbook/classes/{cb_world['a2'].id}").status_code == 404
    assert teacher.get(f"/contactbook/classes/{cb_world['b1'].id}/overview").status_code == 404
    assert _grades() == []


def test_homeroom_teacher_reads_other_subjects_but_cannot_grade_them(app, world, cb_world, make_client):
    teacher = _client(make_client, world["users"]["teacher"])
    url = _url(cb_world["a1"], cb_world["viet_a"])  # taught by another teacher; world teacher is homeroom
    page = teacher.get(url)
    assert page.status_code == 200
    assert 'name="g-' not in page.get_data(as_text=True)
    resp = teacher.post(
        url, data={"csrf_token": teacher.csrf(url), f"g-{cb_world['child'].id}-level-1": "HTT"}
    )
    assert resp.status_code == 404
    assert teacher.get(f"/contactbook/classes/{cb_world['a1'].id}/overview").status_code == 200


def test_whole_class_entry_validation_draft_publish(app, world, make_client):
    s = secondary_setup(world["districts"][0])
    jobs.commit()
    p1, p2, p3 = s["pupils"]
    t1 = s["terms"][0]
    teacher = _client(make_client, s["teacher"])
    url = _url(s["cls"], s["math"], t1)

    bad = _post(
        teacher,
        url,
        {
            f"g-{p1.id}-regular-1": "8",
            f"g-{p1.id}-regular-2": "10.5",
            f"g-{p1.id}-midterm-1": "7,25",
            f"g-{p2.id}-regular-1": "abc",
            f"g-{p3.id}-endterm-1": "9",
        },
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert body.count('aria-invalid="true"') == 3
    assert 'value="10.5"' in body and 'value="abc"' in body  # what was typed stays in the cell
    assert _grades() == []  # nothing stored

    ok = _post(
        teacher,
        url,
        {
            f"g-{p1.id}-regular-1": "8",
            f"g-{p1.id}-regular-2": "7",
            f"g-{p1.id}-regular-3": "9",
            f"g-{p1.id}-midterm-1": "7,5",
            f"g-{p1.id}-endterm-1": "8",
            f"g-{p2.id}-regular-1": "6",
            f"g-{p2.id}-midterm-1": "",
            f"g-{p3.id}-endterm-1": "10",
            f"g-{p3.id}-level-1": "HTT",  # not a column of a scored subject: ignored
            "g-99999-regular-1": "5",  # not a pupil of the class: ignored
        },
    )
    assert ok.status_code == 302
    stored = _grades(subject_id=s["math"].id)
    assert len(stored) == 7 and all(g.status == "draft" for g in stored)
    page = teacher.get(url).get_data(as_text=True)
    assert "7.9" in page  # (8+7+9 + 2·7.5 + 3·8) / 8 = 7.875 → 7.9

    pub = _post(teacher, url, {}, action="publish")
    assert pub.status_code == 302
    db.session.expire_all()
    assert all(g.status == "published" and g.published_at for g in _grades(subject_id=s["math"].id))
    assert (
        db.session.scalar(
            sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "contactbook.grades_publish")
        )
        == 1
    )


def test_changing_a_published_grade_needs_a_reason_and_is_recorded(app, world, make_client):
    s = secondary_setup(world["districts"][0])
    jobs.commit()
    p1 = s["pupils"][0]
    url = _url(s["cls"], s["math"], s["terms"][0])
    teacher = _client(make_client, s["teacher"])
    assert _post(teacher, url, {f"g-{p1.id}-regular-1": "6"}, action="publish").status_code == 302

    no_reason = _post(teacher, url, {f"g-{p1.id}-regular-1": "8"})
    assert no_reason.status_code == 422
    assert "needs a reason" in no_reason.get_data(as_text=True) or "lý do" in no_reason.get_data(as_text=True)
    db.session.expire_all()
    assert _grades()[0].score == Decimal("6.0")

    same = _post(teacher, url, {f"g-{p1.id}-regular-1": "6"})  # unchanged value: no reason needed
    assert same.status_code == 302
    changed = _post(
        teacher,
        url,
        {f"g-{p1.id}-regular-1": "8", f"g-{p1.id}-regular-2": "7"},
        reason="Chấm lại bài theo đáp án",
    )
    assert changed.status_code == 302
    # Saved with "save" (not publish): the page says what families now see, not "after you publish".
    said = teacher.get(changed.headers["Location"]).get_data(as_text=True)
    assert "1 điểm đã công bố được sửa: gia đình đã thấy điểm mới" in said
    assert "Các điểm khác vừa nhập là bản nháp" in said
    db.session.expire_all()
    g = _grades()[0]
    assert g.score == Decimal("8.0") and g.status == "published" and g.changed_after_publish
    change = db.session.scalar(sa.select(GradeChange))
    assert (change.old_score, change.new_score, change.reason) == (
        Decimal("6.0"),
        Decimal("8.0"),
        "Chấm lại bài theo đáp án",
    )
    assert change.changed_by_id == s["teacher"].id
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.grade_change"))
    assert entry is not None and "reason" not in entry.details


def test_comment_assessed_and_primary_subjects(app, world, cb_world, make_client):
    s = secondary_setup(world["districts"][0])
    jobs.commit()
    p1 = s["pupils"][0]
    teacher = _client(make_client, s["teacher"])
    url = _url(s["cls"], s["pe"], s["terms"][0])
    bad = _post(teacher, url, {f"g-{p1.id}-regular-1": "8"})
    assert bad.status_code == 422
    ok = _post(
        teacher,
        url,
        {
            f"g-{p1.id}-regular-1": "Đ",
            f"g-{p1.id}-regular-2": "đạt",
            f"g-{p1.id}-midterm-1": "D",
            f"g-{p1.id}-endterm-1": "cd",
        },
    )
    assert ok.status_code == 302
    assert sorted(g.mark for g in _grades(subject_id=s["pe"].id)) == ["CD", "D", "D", "D"]

    primary = _client(make_client, world["users"]["teacher"])
    purl = _url(cb_world["a1"], cb_world["math_a"])
    child = cb_world["child"]
    bad = _post(primary, purl, {f"g-{child.id}-level-1": "giỏi", f"g-{child.id}-endterm-1": "8.5"})
    assert bad.status_code == 422 and bad.get_data(as_text=True).count('aria-invalid="true"') == 2
    ok = _post(primary, purl, {f"g-{child.id}-level-1": "t", f"g-{child.id}-endterm-1": "9"})
    assert ok.status_code == 302
    marks = {(g.kind, g.mark, g.score) for g in _grades(subject_id=cb_world["math_a"].id)}
    assert marks == {("level", "HTT", None), ("endterm", None, Decimal("9.0"))}


def test_grade_book_runs_a_bounded_number_of_queries(app, world, make_client):
    s = secondary_setup(world["districts"][0])
    jobs.commit()
    url = _url(s["cls"], s["math"], s["terms"][1])
    teacher = _client(make_client, s["teacher"])
    cells = {f"g-{p.id}-{k}-1": "7" for p in s["pupils"] for k in ("regular", "midterm", "endterm")}
    _post(teacher, _url(s["cls"], s["math"], s["terms"][0]), cells, action="publish")
    _post(teacher, url, cells)
    with count_queries(app) as small:
        assert teacher.get(url).status_code == 200
    for _ in range(30):
        create_pupil(s["cls"], guardians=[create_user("parent")])
    jobs.commit()
    pupils = db.session.scalars(sa.select(Grade.pupil_id).distinct()).all()
    assert len(pupils) == 3
    with count_queries(app) as big:
        assert teacher.get(url).status_code == 200
    assert big.count == small.count, (small.statements, big.statements)
    assert big.count <= 15


def test_grade_sheet_excel_round_trip(app, world, make_client):
    s = secondary_setup(world["districts"][0])
    jobs.commit()
    p1, p2, _ = s["pupils"]
    url = _url(s["cls"], s["math"], s["terms"][0])
    teacher = _client(make_client, s["teacher"])
    _post(
        teacher,
        url,
        {f"g-{p1.id}-regular-1": "8", f"g-{p1.id}-midterm-1": "7", f"g-{p1.id}-endterm-1": "9"},
        action="publish",
    )
    s["cls"].name = '6A "Chuyên"'  # a quote and Vietnamese letters in the class name
    jobs.commit()
    export = teacher.get(
        f"/contactbook/classes/{s['cls'].id}/grades/{s['math'].id}/export.xlsx?term={s['terms'][0].id}"
    )
    assert export.status_code == 200
    assert export.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = export.headers["Content-Disposition"]
    assert (
        disposition.startswith("attachment;")
        and "filename*=UTF-8''diem_6A%20%22Chuy%C3%AAn%22_" in disposition
    )
    assert export.headers["Cache-Control"] == "no-store"
    wb = openpyxl.load_workbook(io.BytesIO(export.data))
    ws = wb["grades"]
    header = [c.value for c in ws[1]]
    assert (
        header[:2] == ["Mã học sinh", "Họ và tên"] and "TX1" in header and "GK" in header and "CK" in header
    )
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows[p1.pupil_code][header.index("TX1")] == 8

    def upload(workbook, reason=""):
        buf = io.BytesIO()
        workbook.save(buf)
        token = teacher.csrf(url)
        return teacher.post(
            f"/contactbook/classes/{s['cls'].id}/grades/{s['math'].id}/import?term={s['terms'][0].id}",
            data={"csrf_token": token, "reason": reason, "file": (io.BytesIO(buf.getvalue()), "g.xlsx")},
            content_type="multipart/form-data",
        )

    row_of = {ws.cell(row=i, column=1).value: i for i in range(2, ws.max_row + 1)}
    ws.cell(row=row_of[p2.pupil_code], column=header.index("TX1") + 1, value=6.5)
    ws.cell(row=row_of[p2.pupil_code], column=header.index("GK") + 1, value=11)
    bad = upload(wb)
    assert bad.status_code == 422
    assert f"row {row_of[p2.pupil_code]}, column GK" in bad.get_data(
        as_text=True
    ) or f"dòng {row_of[p2.pupil_code]}, cột GK" in bad.get_data(as_text=True)
    ws.cell(row=row_of[p2.pupil_code], column=header.index("GK") + 1, value=7)
    ws.cell(row=row_of[p1.pupil_code], column=header.index("TX1") + 1, value=9)  # published: needs reason
    assert upload(wb).status_code == 422
    ok = upload(wb, reason="Nhập lại từ sổ điểm giấy")
    assert ok.status_code == 302
    db.session.expire_all()
    got = {(g.pupil_id, g.kind): (g.score, g.status) for g in _grades(subject_id=s["math"].id)}
    assert got[(p2.id, "regular")] == (Decimal("6.5"), "draft")
    assert got[(p1.id, "regular")] == (Decimal("9.0"), "published")

    # A sheet exported for another book is refused as a whole.
    other = teacher.get(
        f"/contactbook/classes/{s['cls'].id}/grades/{s['pe'].id}/export.xlsx?term={s['terms'][0].id}"
    )
    resp = upload(openpyxl.load_workbook(io.BytesIO(other.data)))
    assert resp.status_code == 422


_FAN_OUT: list[int] = []


def _record_fan_out(delivery_ids: list[int]) -> None:
    """Stands in for the notification fan-out job (a module-level function, as jobs must be)."""
    _FAN_OUT.append(len(delivery_ids))


def test_publishing_a_class_runs_a_bounded_number_of_queries(app, world, make_client, monkeypatch):
    """Publishing runs the same statements whatever the class size: the notification of each
    child is written with notify_many, a fixed number of statements for the whole class, and the
    fan-out is one job (in-process it would run after the commit: recorded here, not run)."""

    _FAN_OUT.clear()
    app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 10, 5, 3, 0)  # 10:00 in Hanoi: no quiet hours
    monkeypatch.setattr(notification_tasks, "send_deliveries", _record_fan_out)

    s = secondary_setup(world["districts"][0])
    for _ in range(8):
        create_pupil(s["cls"], guardians=[create_user("parent")])
    jobs.commit()
    teacher = _client(make_client, s["teacher"])
    t1 = s["terms"][0]

    def publish(seq):
        """Drafts in column TX<seq> for the whole class, then "publish" (the request measured)."""
        url = _url(s["cls"], s["math"], t1)
        cells = {f"g-{p.id}-regular-{seq}": "7" for p in class_pupils(s["cls"])}
        token = teacher.csrf(url)
        assert teacher.post(url, data={"csrf_token": token, "action": "save", **cells}).status_code == 302
        with count_queries(app) as counter:
            assert teacher.post(url, data={"csrf_token": token, "action": "publish"}).status_code == 302
        return counter.statements

    small = publish(1)
    for _ in range(30):
        create_pupil(s["cls"], guardians=[create_user("parent")])
    jobs.commit()
    big = publish(2)

    def inserts(statements):
        return sum(st.startswith("INSERT INTO notification ") for st in statements)

    # The notifications themselves are one INSERT on PostgreSQL; SQLAlchemy inserts them one by
    # one on SQLite, which cannot return ids in order (tests/integration/test_notifications.py).
    assert len(big) - inserts(big) == len(small) - inserts(small), (len(small), len(big))
    assert len(big) - inserts(big) <= 30
    if db.engine.dialect.name == "postgresql":
        assert inserts(big) == inserts(small) == 1
    # ... and every family was told, in the request: one notification per child and publish.

    told = db.session.scalar(
        sa.select(sa.func.count(Notification.id)).where(Notification.kind == "contact_book")
    )
    size = len(class_pupils(s["cls"]))
    assert told == size * 2 - 30
    if jobs.redis_connection() is None:  # one job per publish, each with the class's SMS
        assert [size - 30, size] == _FAN_OUT

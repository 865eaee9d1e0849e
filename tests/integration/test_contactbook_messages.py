"""Messages between a guardian and the child's teachers (nobody else), read receipts,
attachments checked by magic bytes and served only to the thread's members, office hours,
block and report; announcements with acknowledgement and a per-recipient report."""

from __future__ import annotations

import contextlib
import io
import os
from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.notifications.models import Notification
from contactbook import notify
from contactbook.models import (
    Announcement,
    AnnouncementRecipient,
    Enrolment,
    Guardian,
    Message,
    MessageAttachment,
    MessageThread,
    TeachingAssignment,
    ThreadReport,
)
from tests.contactbook_factories import create_class, create_pupil, create_user, create_year

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _send(client, url, body, files=(), **extra):
    data = {"csrf_token": client.csrf(url), "body": body, **extra}
    if files:
        data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(url, data=data, content_type="multipart/form-data")


def _start(make_client, world, cb_world, files=()):
    parent = _client(make_client, world["users"]["parent"])
    url = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    resp = _send(
        parent, url, "Thưa cô, cháu hôm nay hơi mệt.", files, recipient=str(world["users"]["teacher"].id)
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    return parent, db.session.scalar(sa.select(MessageThread))


def test_guardian_and_teacher_talk_with_read_receipts(app, world, cb_world, make_client):
    parent, thread = _start(make_client, world, cb_world)
    teacher = _client(make_client, world["users"]["teacher"])
    listing = teacher.get("/contactbook/messages").get_data(as_text=True)
    assert world["users"]["parent"].full_name in listing
    assert "new" in listing or "mới" in listing.lower()
    page = parent.get(f"/contactbook/threads/{thread.id}").get_data(as_text=True)
    assert "chưa xem" in page.lower() or "not seen yet" in page
    teacher.get(f"/contactbook/threads/{thread.id}")  # the teacher reads it
    page = parent.get(f"/contactbook/threads/{thread.id}").get_data(as_text=True)
    assert "not seen yet" not in page and "chưa xem" not in page.lower()
    reply = _send(teacher, f"/contactbook/threads/{thread.id}", "Cô đã biết, cảm ơn chị.")
    assert reply.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 2
    assert "Cô đã biết" in parent.get(f"/contactbook/threads/{thread.id}").get_data(as_text=True)


def test_nobody_else_can_message_or_read(app, world, cb_world, make_client):
    parent, thread = _start(make_client, world, cb_world, files=[("x.png", PNG)])
    att = db.session.scalar(sa.select(MessageAttachment))
    # A teacher who does not teach the child is not a valid recipient.
    url = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    bad = _send(parent, url, "Chào", recipient=str(world["foreign"]["teacher"].id))
    assert bad.status_code == 422
    # Another family, another school's teacher, the teacher of class 1B: 404 on thread and file.
    for user in (cb_world["other_family"], world["foreign"]["teacher"], cb_world["b_parent"]):
        c = _client(make_client, user)
        assert c.get(f"/contactbook/threads/{thread.id}").status_code == 404
        assert c.get(f"/contactbook/attachments/{att.id}").status_code == 404
        assert _send(c, f"/contactbook/threads/{thread.id}", "xin chào").status_code == 404
    stranger_teacher = _client(make_client, world["foreign"]["teacher"])
    assert stranger_teacher.get(f"/contactbook/pupils/{cb_world['child'].id}/messages/new").status_code == 404
    assert (
        _client(make_client, world["users"]["school_staff"])
        .get(f"/contactbook/threads/{thread.id}")
        .status_code
        == 403
    )
    # A guardian whose link to the child was removed loses the conversation.
    db.session.execute(sa.delete(Guardian).where(Guardian.user_id == world["users"]["parent"].id))
    jobs.commit()
    assert parent.get(f"/contactbook/threads/{thread.id}").status_code == 404
    assert parent.get(f"/contactbook/attachments/{att.id}").status_code == 404


def test_attachments_checked_by_content_and_served_safely(app, world, cb_world, make_client):
    parent, thread = _start(make_client, world, cb_world, files=[("ảnh.png", PNG), ("đơn.pdf", PDF)])
    atts = {a.content_type: a for a in db.session.scalars(sa.select(MessageAttachment))}
    assert set(atts) == {"image/png", "application/pdf"}
    path = os.path.join(app.instance_path, "contactbook_attachments", atts["image/png"].storage_name)
    assert os.path.exists(path) and "static" not in path
    teacher = _client(make_client, world["users"]["teacher"])
    img = teacher.get(f"/contactbook/attachments/{atts['image/png'].id}")
    assert img.status_code == 200 and img.data == PNG
    assert img.headers["Content-Type"] == "image/png"
    assert img.headers["X-Content-Type-Options"] == "nosniff"
    assert img.headers["Content-Disposition"].startswith("inline")
    pdf = parent.get(f"/contactbook/attachments/{atts['application/pdf'].id}")
    assert pdf.status_code == 200 and pdf.headers["Content-Disposition"].startswith("attachment")

    url = f"/contactbook/threads/{thread.id}"
    for name, content in (
        ("trick.png", b"<html><script>alert(1)</script>"),
        ("x.svg", b"<svg onload=alert(1)>"),
        ("big.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024)),
        ("empty.png", b""),
    ):
        resp = _send(parent, url, "tệp", files=[(name, content)])
        assert resp.status_code == 422, name
    many = _send(parent, url, "nhiều tệp", files=[(f"{i}.png", PNG) for i in range(4)])
    assert many.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(MessageAttachment.id))) == 2


def test_block_report_and_office_hours(app, world, cb_world, make_client):
    teacher = _client(make_client, world["users"]["teacher"])
    url = "/contactbook/office-hours"
    assert (
        teacher.post(url, data={"csrf_token": teacher.csrf(url), "text": "Thứ 2–6, 16:30–17:30"}).status_code
        == 302
    )
    parent = _client(make_client, world["users"]["parent"])
    page = parent.get(f"/contactbook/children/{cb_world['child'].id}/messages/new").get_data(as_text=True)
    assert "16:30–17:30" in page

    parent, thread = _start(make_client, world, cb_world)
    turl = f"/contactbook/threads/{thread.id}"
    assert (
        parent.post(f"{turl}/block", data={"csrf_token": parent.csrf(turl), "block": "1"}).status_code == 302
    )
    assert _send(teacher, turl, "Cô nhắn").status_code == 422
    # Only the blocker unblocks.
    teacher.post(f"{turl}/block", data={"csrf_token": teacher.csrf(turl), "block": "0"})
    db.session.expire_all()
    assert db.session.get(MessageThread, thread.id).blocked_at is not None
    parent.post(f"{turl}/block", data={"csrf_token": parent.csrf(turl), "block": "0"})
    assert _send(teacher, turl, "Cô nhắn").status_code == 302

    assert (
        teacher.post(f"{turl}/report", data={"csrf_token": teacher.csrf(turl), "reason": ""}).status_code
        == 422
    )
    assert (
        teacher.post(
            f"{turl}/report",
            data={"csrf_token": teacher.csrf(turl), "reason": "Phụ huynh nhắn tin lúc nửa đêm"},
        ).status_code
        == 302
    )
    assert db.session.scalar(sa.select(sa.func.count(ThreadReport.id))) == 1
    school_a = world["schools"][0].id
    staff = _client(make_client, world["users"]["school_staff"])
    assert "nửa đêm" in staff.get(f"/contactbook/schools/{school_a}/reports").get_data(as_text=True)
    other_staff = _client(make_client, world["foreign"]["school_staff"])
    assert other_staff.get(f"/contactbook/schools/{school_a}/reports").status_code == 404


def test_class_announcement_with_acknowledgement_report(app, world, cb_world, make_client):
    second_parent = create_user("parent")
    create_pupil(cb_world["a1"], guardians=[second_parent, world["users"]["parent"]])  # a sibling: one row
    jobs.commit()
    teacher = _client(make_client, world["users"]["teacher"])
    url = f"/contactbook/classes/{cb_world['a1'].id}/announcements/new"
    assert (
        teacher.post(url, data={"csrf_token": teacher.csrf(url), "title": "", "body": "x"}).status_code == 422
    )
    resp = teacher.post(
        url,
        data={
            "csrf_token": teacher.csrf(url),
            "title": "Họp phụ huynh đầu năm",
            "body": "Thứ bảy 8:00 tại lớp 1A.",
            "requires_ack": "y",
        },
    )
    assert resp.status_code == 302
    assert "Đã gửi đến 2 gia đình." in teacher.get(resp.headers["Location"]).get_data(as_text=True)
    a = db.session.scalar(sa.select(Announcement))
    recipients = set(db.session.scalars(sa.select(AnnouncementRecipient.user_id)))
    assert recipients == {world["users"]["parent"].id, second_parent.id}  # classmates have no guardians
    assert a.recipient_count == 2

    parent = _client(make_client, world["users"]["parent"])
    assert "Họp phụ huynh đầu năm" in parent.get("/contactbook/announcements").get_data(as_text=True)
    assert parent.get(f"/contactbook/announcements/{a.id}").status_code == 200
    ack = parent.post(f"/contactbook/announcements/{a.id}/ack", data={"csrf_token": parent.csrf("/home")})
    assert ack.status_code == 302
    row = db.session.scalar(
        sa.select(AnnouncementRecipient).where(AnnouncementRecipient.user_id == world["users"]["parent"].id)
    )
    assert row.read_at and row.acked_at
    report = teacher.get(f"/contactbook/announcements/{a.id}").get_data(as_text=True)
    # Times are shown in Hanoi time (UTC+7), not the stored UTC.
    assert (row.acked_at + timedelta(hours=7)).strftime(
        "%d/%m %H:%M"
    ) in report and second_parent.full_name in report
    # Families of other classes and schools cannot open it.
    for user in (cb_world["other_family"], cb_world["b_parent"]):
        c = _client(make_client, user)
        assert c.get(f"/contactbook/announcements/{a.id}").status_code == 404
        assert (
            c.post(f"/contactbook/announcements/{a.id}/ack", data={"csrf_token": c.csrf("/home")}).status_code
            == 404
        )
    # A teacher of another class cannot announce to 1A.
    other = _client(make_client, world["foreign"]["teacher"])
    assert other.get(url).status_code == 404


def test_school_announcement_reaches_every_family_of_the_school(app, world, cb_world, make_client):
    staff = _client(make_client, world["users"]["school_staff"])
    url = f"/contactbook/schools/{world['schools'][0].id}/announcements/new"
    resp = staff.post(
        url,
        data={"csrf_token": staff.csrf(url), "title": "Nghỉ học do bão", "body": "Trường nghỉ học ngày mai."},
    )
    assert resp.status_code == 302
    recipients = set(db.session.scalars(sa.select(AnnouncementRecipient.user_id)))
    assert recipients == {
        world["users"]["parent"].id,
        cb_world["other_family"].id,
    }  # school A's families only
    n = db.session.scalar(sa.select(Notification).where(Notification.kind == "announcement"))
    assert n is not None and n.recipient_count == 2
    assert _client(make_client, world["foreign"]["school_staff"]).get(url).status_code == 404


def test_files_of_a_message_that_is_not_stored_are_removed(app, world, cb_world, make_client, monkeypatch):
    """A refused message (another file of it is bad, the conversation is blocked, an error while
    saving) leaves no file behind in the attachments folder."""

    folder = os.path.join(app.instance_path, "contactbook_attachments")

    def files():
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []

    before = set(files())  # the instance folder is shared by the tests of a run
    parent, thread = _start(make_client, world, cb_world, files=[("a.png", PNG)])
    kept = files()
    assert len(set(kept) - before) == 1
    url = f"/contactbook/threads/{thread.id}"
    assert _send(parent, url, "hai tệp", files=[("ok.png", PNG), ("bad.svg", b"<svg/>")]).status_code == 422
    assert files() == kept

    def broken(*args, **kwargs):
        raise RuntimeError("the notification system failed")

    monkeypatch.setattr(notify, "notify_users", broken)
    with contextlib.suppress(RuntimeError):  # propagated when the app is configured to
        assert _send(parent, url, "ảnh", files=[("ok.png", PNG)]).status_code == 500
    assert files() == kept
    monkeypatch.undo()

    new = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    teacher = _client(make_client, world["users"]["teacher"])
    teacher.post(f"{url}/block", data={"csrf_token": teacher.csrf(url), "block": "1"})
    blocked = _send(parent, new, "ảnh", files=[("ok.png", PNG)], recipient=str(world["users"]["teacher"].id))
    assert blocked.status_code == 422
    assert files() == kept
    assert db.session.scalar(sa.select(sa.func.count(MessageAttachment.id))) == 1


def test_school_announcement_report_names_each_child_once(app, world, cb_world, make_client):
    """Last year's classes of the school do not repeat a child in the per-recipient report."""

    last_year = create_year("2025-2026", current=False)
    old = create_class(world["schools"][0], "1C", year=last_year)
    db.session.add(Enrolment(pupil_id=cb_world["child"].id, class_id=old.id, academic_year_id=last_year.id))
    jobs.commit()
    staff = _client(make_client, world["users"]["school_staff"])
    url = f"/contactbook/schools/{world['schools'][0].id}/announcements/new"
    resp = staff.post(url, data={"csrf_token": staff.csrf(url), "title": "Lịch nghỉ Tết", "body": "Từ 26/1."})
    assert resp.status_code == 302
    report = staff.get(resp.headers["Location"]).get_data(as_text=True)
    assert report.count(cb_world["child"].full_name) == 1

    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "contactbook.view_announcement_report")
        )
        == 1
    )  # staff seeing families is logged


def test_the_list_shows_only_conversations_that_can_be_opened(app, world, cb_world, make_client):
    """When the teacher stops teaching the child's class, the conversation leaves both lists
    (opening it answers 404, so listing it only showed a dead link)."""

    parent, thread = _start(make_client, world, cb_world)
    # A second conversation, with the subject teacher of Tiếng Việt.
    other = cb_world["a2_teacher"]
    url = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    assert _send(parent, url, "Thưa cô Tiếng Việt", recipient=str(other.id)).status_code == 302
    subject_teacher = _client(make_client, other)
    assert "Con Của Phụ Huynh" in subject_teacher.get("/contactbook/messages").get_data(as_text=True)
    listing = parent.get("/contactbook/messages").get_data(as_text=True)
    assert listing.count("/contactbook/threads/") == 2

    db.session.execute(
        sa.delete(TeachingAssignment).where(
            TeachingAssignment.teacher_id == other.id, TeachingAssignment.class_id == cb_world["a1"].id
        )
    )
    jobs.commit()
    listing = parent.get("/contactbook/messages").get_data(as_text=True)
    assert listing.count("/contactbook/threads/") == 1 and f"/contactbook/threads/{thread.id}" in listing
    assert "Con Của Phụ Huynh" not in subject_teacher.get("/contactbook/messages").get_data(as_text=True)


def test_teacher_starts_a_message_from_the_messages_page(app, world, cb_world, make_client):
    """'New message' on the teacher's messages page: the pupils of the classes they teach, by
    class; choosing one opens the message form for that family. Another pupil is a 404."""
    teacher = _client(make_client, world["users"]["teacher"])
    listing = teacher.get("/contactbook/messages").get_data(as_text=True)
    assert 'href="/contactbook/messages/new"' in listing
    picker = teacher.get("/contactbook/messages/new")
    assert picker.status_code == 200
    page = picker.get_data(as_text=True)
    child = cb_world["child"]
    assert f'<option value="{child.id}">{child.full_name}</option>' in page
    assert cb_world["b_pupil"].full_name not in page  # another school's pupil
    chosen = teacher.get(f"/contactbook/messages/new?pupil={child.id}")
    assert chosen.status_code == 302
    assert chosen.headers["Location"].endswith(f"/contactbook/pupils/{child.id}/messages/new")
    assert teacher.get(f"/contactbook/messages/new?pupil={cb_world['b_pupil'].id}").status_code == 404
    parent = _client(make_client, world["users"]["parent"])
    assert 'href="/contactbook/messages/new"' not in parent.get("/contactbook/messages").get_data(
        as_text=True
    )

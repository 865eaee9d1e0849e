"""Messages (guardian ↔ the child's teachers), office hours, reported conversations and blocks,
and announcements: whoever writes or reads them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import jobs
from app.audit import audit
from app.authz import login_required_any, roles_required, school_or_404
from app.models import Role

from .. import access, messaging
from .. import announcements as notices
from ..access import STAFF
from ..forms import (
    AnnouncementForm,
    CloseReportForm,
    MessageForm,
    OfficeHoursForm,
    ReportForm,
    teacher_choices,
)
from ..models import ReportStatus
from ..rules import MAX_ATTACHMENTS

bp = Blueprint("contactbook_messages", __name__, url_prefix="/contactbook")

ATTACHMENT_ERRORS = {
    "too_big": lambda n: _("%(name)s is larger than 5 MB.", name=n),
    "empty": lambda n: _("%(name)s is empty.", name=n),
    "type": lambda n: _("%(name)s is not a photo (JPEG, PNG, GIF, WebP) or a PDF.", name=n),
    "too_many": lambda n: _("Attach at most 3 files."),
}
PARTICIPANTS = (Role.PARENT, Role.TEACHER)


def _uploads(form: MessageForm):
    """Store the posted files; on a problem, add it to the form and return None."""
    files = [f for f in (form.files.data or []) if f and f.filename]
    if len(files) > MAX_ATTACHMENTS:
        form.files.errors.append(ATTACHMENT_ERRORS["too_many"](""))
        return None
    uploads = []
    for f in files:
        try:
            uploads.append(messaging.store_upload(f.stream, f.filename))
        except messaging.AttachmentError as err:
            form.files.errors.append(ATTACHMENT_ERRORS[err.code](err.name[:80]))
            jobs.rollback()  # refused: the files stored so far are removed with the transaction
            return None
    return uploads


def _thread_or_404(thread_id: int):
    return messaging.member_thread(thread_id, current_user) or abort(404)


def _to_thread(thread_id: int, anchor: str = ""):
    return redirect(url_for("contactbook_messages.thread", thread_id=thread_id) + anchor)


def _thread_page(thread, form: MessageForm, report_form: ReportForm, status: int = 200):
    return render_template(
        "contactbook/thread.html",
        view=messaging.load_thread(thread, current_user),
        form=form,
        report_form=report_form,
        hours=messaging.office_hours_of([thread.teacher_id]).get(thread.teacher_id),
    ), status


@bp.route("/messages")
@roles_required(PARTICIPANTS)
def threads():
    return render_template("contactbook/threads.html", threads=messaging.user_threads(current_user))


@bp.route("/messages/new")
@roles_required(Role.TEACHER)
def new_message_teacher():
    """A teacher picks the pupil whose family to write to, then writes on the pupil's page."""
    pupil_id = request.args.get("pupil", type=int)
    if pupil_id is not None:
        pupil, _cls = access.teacher_pupil_or_404(pupil_id)
        return redirect(url_for("contactbook_messages.new_thread_teacher", pupil_id=pupil.id))
    return render_template("contactbook/pick_pupil.html", classes=messaging.teacher_pupils(current_user))


def _send_first_message(form, pupil, guardian, teacher, cls):
    """Open (or reuse) the guardian-teacher conversation about `pupil` and post the form's message.
    Returns the redirect to the conversation, or None when the form is shown again with an error."""
    uploads = _uploads(form)
    if uploads is None:
        return None
    thread = messaging.open_thread(pupil, guardian, teacher, cls)
    if thread.blocked_at is not None:
        form.body.errors.append(_("This conversation is blocked."))
        jobs.rollback()  # refused: neither the stored files nor a new conversation are kept
        return None
    messaging.post_message(thread, current_user, form.body.data, uploads)
    return _to_thread(thread.id)


@bp.route("/children/<int:pupil_id>/messages/new", methods=["GET", "POST"])
@roles_required(Role.PARENT)
def new_thread_parent(pupil_id: int):
    pupil = access.child_or_404(pupil_id)
    cls, teachers = messaging.child_teachers(pupil.id)
    if cls is None:
        abort(404)
    form = MessageForm()
    form.recipient.choices = teacher_choices(teachers)
    if form.validate_on_submit():
        teacher = next(t for t, _, _ in teachers if t.id == form.recipient.data)
        sent = _send_first_message(form, pupil, current_user, teacher, cls)
        if sent is not None:
            return sent
    status = 422 if form.is_submitted() else 200
    hours = messaging.office_hours_of(t.id for t, _, _ in teachers)
    return render_template(
        "contactbook/new_thread.html", form=form, pupil=pupil, hours=hours, teachers=teachers, to_teacher=True
    ), status


@bp.route("/pupils/<int:pupil_id>/messages/new", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def new_thread_teacher(pupil_id: int):
    pupil, cls = access.teacher_pupil_or_404(pupil_id)
    guardians = messaging.child_guardians(pupil.id)
    form = MessageForm()
    form.recipient.choices = [(g.id, g.full_name) for g in guardians]
    if form.validate_on_submit():
        guardian = next(g for g in guardians if g.id == form.recipient.data)
        sent = _send_first_message(form, pupil, guardian, current_user, cls)
        if sent is not None:
            return sent
    status = 422 if form.is_submitted() else 200
    return render_template(
        "contactbook/new_thread.html", form=form, pupil=pupil, hours={}, teachers=[], to_teacher=False
    ), status


@bp.route("/threads/<int:thread_id>", methods=["GET", "POST"])
@roles_required(PARTICIPANTS)
def thread(thread_id: int):
    thread = _thread_or_404(thread_id)
    form = MessageForm()
    del form.recipient
    if form.validate_on_submit():
        if thread.blocked_at is not None:
            form.body.errors.append(_("This conversation is blocked."))
        else:
            uploads = _uploads(form)
            if uploads is not None:
                messaging.post_message(thread, current_user, form.body.data, uploads)
                return _to_thread(thread.id, "#last")
    if request.method == "GET":
        messaging.mark_read(thread, current_user)
    status = 422 if form.is_submitted() else 200
    return _thread_page(thread, form, ReportForm(formdata=None), status)


@bp.route("/threads/<int:thread_id>/block", methods=["POST"])
@roles_required(PARTICIPANTS)
def block_thread(thread_id: int):
    thread = _thread_or_404(thread_id)
    block = request.form.get("block") == "1"
    if not block and thread.blocked_by_id not in (None, current_user.id):
        flash(_("Only the person who blocked this conversation can unblock it."), "error")
    else:
        messaging.set_block(thread, current_user, block)
        flash(_("The conversation is blocked.") if block else _("The conversation is open again."), "success")
    return _to_thread(thread.id)


@bp.route("/threads/<int:thread_id>/report", methods=["POST"])
@roles_required(PARTICIPANTS)
def report_thread(thread_id: int):
    thread = _thread_or_404(thread_id)
    form = ReportForm()
    if form.validate_on_submit():
        messaging.report_thread(thread, current_user, form.reason.data)
        flash(_("Thank you. The school will look at this conversation."), "success")
        return _to_thread(thread.id)
    msg_form = MessageForm(formdata=None)
    del msg_form.recipient
    return _thread_page(thread, msg_form, form, 422)


@bp.route("/attachments/<int:attachment_id>")
@roles_required(PARTICIPANTS)
def attachment(attachment_id: int):
    att = access.attachment_or_404(attachment_id)
    thread = _thread_or_404(att.thread_id)
    inline = att.content_type.startswith("image/")
    resp = send_file(
        messaging.attachment_path(att),
        mimetype=att.content_type,
        as_attachment=not inline,
        download_name=att.filename,
        max_age=0,
        conditional=False,
        etag=False,
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    audit("contactbook.attachment_download", att, thread_id=thread.id)
    return resp


@bp.route("/office-hours", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def office_hours():
    current = messaging.office_hours_of([current_user.id]).get(current_user.id, "")
    form = OfficeHoursForm(data={"text": current} if request.method == "GET" else None)
    if form.validate_on_submit():
        messaging.set_office_hours(current_user, form.text.data or "")
        flash(_("Your office hours are saved; families see them before they write."), "success")
        return redirect(url_for("contactbook_teacher.teach"))
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/office_hours.html", form=form), status


@bp.route("/schools/<int:school_id>/reports")
@roles_required(STAFF)
def thread_reports(school_id: int):
    school = school_or_404(school_id)
    audit("contactbook.view_reports", ("school", school.id))
    return render_template(
        "contactbook/reports.html", school=school, reports=messaging.school_reports(school.id)
    )


@bp.route("/reports/<int:report_id>", methods=["GET", "POST"])
@roles_required(STAFF)
def thread_report(report_id: int):
    """One reported conversation: the messages (the reporter asked the school to read them; files
    stay with the conversation's members) and closing the report with what the school did."""
    report = access.thread_report_or_404(report_id)
    form = CloseReportForm()
    if request.method == "POST" and report.status != ReportStatus.OPEN:
        flash(_("This report has already been closed."), "info")
        return redirect(url_for("contactbook_messages.thread_report", report_id=report.id))
    if form.validate_on_submit():
        messaging.close_report(report, current_user, form.resolution.data)
        flash(_("The report is closed; the person who reported it has been told."), "success")
        return redirect(url_for("contactbook_messages.thread_reports", school_id=report.school_id))
    audit("contactbook.view_reported_thread", report, thread_id=report.thread_id)
    view = messaging.load_thread(report.thread, current_user)
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/report.html", report=report, view=view, form=form), status


# ----------------------------------------------------------------------------- announcements


def _announce(form: AnnouncementForm, school_id: int, cls, audience: str):
    """Send the posted announcement and show it, or the form again."""
    if form.validate_on_submit():
        a = notices.send_announcement(
            school_id=school_id,
            cls=cls,
            author=current_user,
            title=form.title.data,
            body=form.body.data,
            requires_ack=form.requires_ack.data,
        )
        flash(ngettext("Sent to %(num)d family.", "Sent to %(num)d families.", a.recipient_count), "success")
        return redirect(url_for("contactbook_messages.announcement", announcement_id=a.id))
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/announcement_form.html", form=form, audience=audience), status


@bp.route("/classes/<int:class_id>/announcements/new", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def class_announcement(class_id: int):
    cls = access.class_or_404(class_id)
    audience = _("the families of class %(name)s", name=cls.name)
    return _announce(AnnouncementForm(), cls.school_id, cls, audience)


@bp.route("/schools/<int:school_id>/announcements/new", methods=["GET", "POST"])
@roles_required(STAFF)
def school_announcement(school_id: int):
    school = school_or_404(school_id)
    return _announce(AnnouncementForm(), school.id, None, _("every family of %(name)s", name=school.name))


@bp.route("/announcements")
@login_required_any
def announcements():
    if current_user.role == Role.PARENT:
        return render_template("contactbook/announcements.html", inbox=notices.inbox(current_user), sent=None)
    return render_template("contactbook/announcements.html", inbox=None, sent=notices.sent_by(current_user))


@bp.route("/announcements/<int:announcement_id>")
@login_required_any
def announcement(announcement_id: int):
    acc = access.announcement_or_404(announcement_id)
    if acc.row is None:  # its author or the school's staff: who read and acknowledged it
        if current_user.role in STAFF:  # the report names families and children
            audit("contactbook.view_announcement_report", acc.announcement)
        report = notices.announcement_report(acc.announcement)
        return render_template(
            "contactbook/announcement.html",
            a=acc.announcement,
            row=None,
            report=report,
            delivery_id=notices.delivery_report_id(acc.announcement),
        )
    notices.mark_read(acc.row)
    return render_template("contactbook/announcement.html", a=acc.announcement, row=acc.row, report=None)


@bp.route("/announcements/<int:announcement_id>/ack", methods=["POST"])
@roles_required(Role.PARENT)
def acknowledge(announcement_id: int):
    acc = access.announcement_or_404(announcement_id, as_recipient=True)
    notices.acknowledge(acc.row)
    flash(_("Thank you: the school knows you have read it."), "success")
    return redirect(url_for("contactbook_messages.announcement", announcement_id=acc.announcement.id))

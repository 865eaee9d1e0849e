"""Teachers: their classes, grade books (entry, publish, Excel; the school's staff read them
too), the homeroom overview, comments, attendance and absence requests."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from app import xlsx
from app.audit import audit
from app.authz import roles_required
from app.models import Role
from app.xlsx import clean_text as one_line  # control characters dropped

from .. import access, classes, daily, exports, grades, pages, years
from ..forms import CommentForm, DecisionForm, GradeSheetUploadForm, TermCommentsForm
from ..imports.grade_sheet import import_grade_sheet
from ..models import RequestStatus
from ..rules import KINDERGARTEN

bp = Blueprint("contactbook_teacher", __name__, url_prefix="/contactbook")

READERS = (Role.TEACHER, *access.STAFF)
ATTENDANCE_PROBLEMS = {
    "bad_date": lambda year: _("Enter a date as yyyy-mm-dd."),
    "future": lambda year: _("Attendance cannot be taken for a day in the future."),
    "outside_year": lambda year: _("Choose a day of the school year %(name)s.", name=year.name),
}


@bp.route("/teach")
@roles_required(Role.TEACHER)
def teach():
    return render_template("contactbook/teach.html", lines=classes.teacher_classes(current_user))


def _term(cls):
    """The class's terms and the one asked for (?term=), else the current one; 404 if none."""
    terms = years.school_terms(cls)
    term = years.pick_term(terms, request.args.get("term", type=int))
    if term is None:
        abort(404)
    return terms, term


def _no_grades(cls):
    """Kindergarten classes keep no grades: the grade pages say so politely (and what to use)."""
    if cls.grade == KINDERGARTEN:
        abort(make_response(render_template("contactbook/no_grades.html", cls=cls), 409))


def _book(class_id: int, subject_id: int):
    acc = access.grade_book_or_404(class_id, subject_id)
    _no_grades(acc.cls)
    terms, term = _term(acc.cls)
    return acc, terms, term, grades.load_book(acc.cls, acc.subject, term, terms)


def _book_page(acc, terms, term, book, *, result=None, upload=None, report=None, reason="", status=200):
    return render_template(
        "contactbook/grade_book.html",
        book=book,
        acc=acc,
        terms=terms,
        term=term,
        result=result,
        grid=grades.grid(book, result),
        upload=upload or GradeSheetUploadForm(formdata=None),
        report=report,
        show=grades.display_result,
        reason=reason,
    ), status


def _back_to_book(acc, term):
    return redirect(
        url_for(
            "contactbook_teacher.grade_book", class_id=acc.cls.id, subject_id=acc.subject.id, term=term.id
        )
    )


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>", methods=["GET", "POST"])
@roles_required(READERS)
def grade_book(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    if acc.viewer == "staff":
        audit("contactbook.view_grades", acc.cls, subject_id=acc.subject.id, term_id=term.id)
    if request.method == "GET":
        return _book_page(acc, terms, term, book)
    if not acc.editable:
        abort(404)
    publish = request.form.get("action") == "publish"
    reason = one_line(request.form.get("reason"))[:300]
    entries = grades.entries_from_form(request.form)
    result = grades.save_entries(book, entries, actor=current_user, reason=reason, publish=publish)
    if not result.ok:
        return _book_page(
            acc, terms, term, book, result=result, reason=request.form.get("reason", ""), status=422
        )
    flash(_saved_message(result, publish), "success")
    return _back_to_book(acc, term)


def _saved_message(result: grades.SaveResult, publish: bool) -> str:
    """What saving did, as families see it: a changed published grade is visible at once."""
    if publish:
        return _("Saved and published: families can see the grades now.")
    if not result.changed_published:
        return _("Saved as draft. Families see the grades once you publish them.")
    changed = ngettext(
        "Saved. %(num)d published grade was changed: the family already sees the new value, with your reason.",
        "Saved. %(num)d published grades were changed: the families already see the new values, with your reason.",
        result.changed_published,
    )
    if result.created or result.updated or result.deleted:
        return (
            changed + " " + _("The other grades you entered are drafts: families see them once you publish.")
        )
    return changed


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>/export.xlsx")
@roles_required(READERS)
def grade_sheet_export(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    audit("contactbook.grade_sheet_export", acc.cls, subject_id=acc.subject.id, term_id=term.id)
    return xlsx.download(
        exports.grade_sheet(book), f"diem_{acc.cls.name}_{acc.subject.id}_HK{term.number}.xlsx"
    )


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>/import", methods=["POST"])
@roles_required(Role.TEACHER)
def grade_sheet_import(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    if not acc.editable:
        abort(404)
    upload = GradeSheetUploadForm()
    report = None
    if upload.validate_on_submit():
        report = import_grade_sheet(
            upload.file.data.stream, book, actor=current_user, reason=upload.reason.data or ""
        )
        if report.ok:
            r = report.result
            flash(
                _(
                    "Grade sheet imported as draft: %(n)d grades added, %(m)d changed. Check and publish.",
                    n=r.created,
                    m=r.updated + r.changed_published,
                ),
                "success",
            )
            return _back_to_book(acc, term)
        book = grades.load_book(acc.cls, acc.subject, term, terms)
    return _book_page(acc, terms, term, book, upload=upload, report=report, status=422)


@bp.route("/classes/<int:class_id>/overview")
@roles_required(READERS)
def class_overview(class_id: int):
    """A read-only view of the whole class (homeroom teacher, school staff): each subject's term
    result."""
    cls = access.overview_class_or_404(class_id)
    _no_grades(cls)
    terms, term = _term(cls)
    if current_user.role in access.STAFF:
        audit("contactbook.view_grades", cls, term_id=term.id)
    return render_template(
        "contactbook/overview.html",
        cls=cls,
        terms=terms,
        term=term,
        overview=pages.class_overview(cls, term),
        show=grades.display_result,
    )


# ----------------------------------------------------------------------------- attendance


@bp.route("/classes/<int:class_id>/attendance", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def attendance(class_id: int):
    cls = access.homeroom_class_or_404(class_id)
    day, problem = daily.attendance_day(cls, request.values.get("date"))
    error = ATTENDANCE_PROBLEMS[problem](cls.academic_year) if problem else None
    if request.method == "GET":
        lines = daily.attendance_sheet(cls, day) if error is None else []
        return render_template("contactbook/attendance.html", cls=cls, day=day, lines=lines, error=error)
    if error is None:
        daily.save_attendance(cls, day, daily.marks_from_form(cls, request.form), current_user)
        flash(_("Attendance for %(day)s has been saved.", day=format_date(day, "dd/MM/yyyy")), "success")
        return redirect(url_for("contactbook_teacher.attendance", class_id=cls.id, date=day.isoformat()))
    flash(error, "error")
    lines = daily.attendance_sheet(cls, day)
    return render_template("contactbook/attendance.html", cls=cls, day=day, lines=lines, error=error), 422


# ----------------------------------------------------------------------------- comments


def _comments_page(cls, terms, term, subject, back_url: str):
    """Term comments for the whole class on one page (homeroom, or one subject); what was typed
    stays in the boxes when the page is refused."""
    form = TermCommentsForm()
    texts: dict[int, str] = {}
    if form.validate_on_submit():
        texts = daily.comments_from_form(request.form)
        if any(len(v) > 2000 for v in texts.values()):
            flash(_("A comment has at most 2000 characters."), "error")
        else:
            daily.save_term_comments(cls, term, current_user, texts, subject)
            flash(_("Term comments saved."), "success")
            return redirect(back_url)
    status = 422 if form.is_submitted() else 200
    saved = {pid: c.body for pid, c in daily.term_comments(cls, term, current_user, subject).items()}
    return render_template(
        "contactbook/term_comments.html",
        cls=cls,
        terms=terms,
        term=term,
        form=form,
        subject=subject,
        pupils=classes.class_pupils(cls),
        comments={**saved, **texts},
    ), status


@bp.route("/classes/<int:class_id>/comments", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def term_comments(class_id: int):
    """The homeroom teacher's term comment on each pupil."""
    cls = access.homeroom_class_or_404(class_id)
    terms, term = _term(cls)
    back = url_for("contactbook_teacher.term_comments", class_id=cls.id, term=term.id)
    return _comments_page(cls, terms, term, None, back)


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>/comments", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def subject_comments(class_id: int, subject_id: int):
    """The subject teacher's term comment on each pupil in that subject (Circular 22/27: every
    subject's assessment comes with the teacher's comment)."""
    acc = access.grade_book_or_404(class_id, subject_id)
    if not acc.editable:
        abort(404)
    terms, term = _term(acc.cls)
    back = url_for(
        "contactbook_teacher.subject_comments", class_id=acc.cls.id, subject_id=acc.subject.id, term=term.id
    )
    return _comments_page(acc.cls, terms, term, acc.subject, back)


@bp.route("/pupils/<int:pupil_id>/notes", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def pupil_notes(pupil_id: int):
    pupil, cls = access.teacher_pupil_or_404(pupil_id)
    form = CommentForm()
    if form.validate_on_submit():
        daily.add_note(pupil, cls, current_user, form.body.data)
        flash(_("The note has been sent to the family."), "success")
        return redirect(url_for("contactbook_teacher.pupil_notes", pupil_id=pupil.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "contactbook/notes.html", pupil=pupil, cls=cls, form=form, notes=daily.pupil_notes(pupil.id)
    ), status


# ----------------------------------------------------------------------------- absence requests


@bp.route("/classes/<int:class_id>/absences")
@roles_required(Role.TEACHER)
def absence_requests(class_id: int):
    cls = access.homeroom_class_or_404(class_id)
    return render_template(
        "contactbook/absences.html",
        cls=cls,
        requests=daily.class_requests(cls),
        form=DecisionForm(formdata=None),
    )


@bp.route("/absences/<int:request_id>/decide", methods=["POST"])
@roles_required(Role.TEACHER)
def decide_absence(request_id: int):
    req, cls = access.absence_request_or_404(request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("Choose approve or decline."), "error")
        return render_template(
            "contactbook/absences.html", cls=cls, requests=daily.class_requests(cls), form=form
        ), 422
    if req.status != RequestStatus.PENDING:
        flash(_("This request has already been answered."), "info")
    else:
        daily.decide_request(req, form.decision.data, form.note.data or "", current_user)
        flash(_("The family has been told."), "success")
    return redirect(url_for("contactbook_teacher.absence_requests", class_id=cls.id))

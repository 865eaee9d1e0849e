"""School staff, district officers and city admins: schools, classes (their teachers see them
too), the classes.xlsx import, activation sheets, the school calendar (terms and subjects)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import imports as import_jobs
from app import paging, xlsx
from app.audit import audit
from app.authz import roles_required, school_or_404, scoped_schools_query
from app.models import Role, School

from .. import access, activation, classes, exports, years
from ..access import STAFF
from ..catalog import grades_of_level, standard_subjects
from ..forms import ImportForm, SubjectEditForm, SubjectForm, TermsForm

bp = Blueprint("contactbook_staff", __name__, url_prefix="/contactbook")
SCHOOLS_PER_PAGE = 50

SUBJECT_PROBLEMS = {
    "name_taken": lambda: _("This grade already has a subject of that name."),
    "has_grades": lambda: _(
        "This subject already has grades: its assessment cannot change and it cannot be deleted."
    ),
}


@bp.route("/schools")
@roles_required(STAFF)
def schools():
    q = paging.search_arg()
    query = scoped_schools_query(current_user)
    if q:
        query = query.where(paging.contains(q, School.name, School.code))
    rows = paging.paginate(query.order_by(School.name, School.id), paging.page_arg(), SCHOOLS_PER_PAGE)
    return render_template("contactbook/schools.html", schools=rows, q=q)


@bp.route("/schools/<int:school_id>")
@roles_required(STAFF)
def school(school_id: int):
    school = school_or_404(school_id)
    year = years.current_year()
    q = paging.search_arg()
    found = None
    if q and year:
        found = paging.paginate(classes.find_pupils(school, year, q), paging.page_arg(), 50, scalars=False)
    return render_template(
        "contactbook/school.html",
        school=school,
        year=year,
        classes=classes.school_classes(school, year) if year else [],
        pending_teachers=activation.pending_teachers(school),
        q=q,
        found=found,
    )


@bp.route("/teachers/<int:user_id>/activation-email", methods=["POST"])
@roles_required(STAFF)
def resend_activation(user_id: int):
    """Send a teacher who has not activated their account a new activation email."""
    teacher = access.school_teacher_or_404(user_id)
    if activation.resend_staff_activation(teacher):
        flash(
            _(
                "A new activation email is on its way to %(name)s; the earlier code no longer works.",
                name=teacher.full_name,
            ),
            "success",
        )
    else:
        flash(
            _(
                "%(name)s has already activated the account (or has no email address).",
                name=teacher.full_name,
            ),
            "info",
        )
    return redirect(url_for("contactbook_staff.school", school_id=teacher.school_id))


RECENT_IMPORTS = 10


@bp.route("/import", methods=["GET", "POST"])
@roles_required(STAFF)
def import_classes():
    """classes.xlsx: checked and stored by an import job, followed on its status page."""
    form = ImportForm()
    if form.validate_on_submit():
        if import_jobs.looks_like_xlsx(form.file.data):
            job = import_jobs.start_import("classes", form.file.data, current_user)
            return redirect(url_for("contactbook_staff.import_status", job_id=job.id))
        form.file.errors.append(_("This is not an Excel .xlsx file."))
    return render_template(
        "contactbook/import.html",
        form=form,
        jobs=import_jobs.recent_jobs(access.visible_import_jobs(), RECENT_IMPORTS),
        titles=import_jobs.titles_of("contactbook"),
        status_labels=import_jobs.STATUS_LABELS,
    ), (422 if form.is_submitted() else 200)


@bp.route("/import/<int:job_id>")
@roles_required(STAFF)
def import_status(job_id: int):
    job = access.import_job_or_404(job_id)
    context = import_jobs.status_context(job)
    report = context["report"]
    return render_template(
        "imports/status.html",
        **context,
        status_url=url_for("contactbook_staff.import_status_json", job_id=job.id),
        back_url=url_for("contactbook_staff.import_classes"),
        done_note=_new_accounts_note(report) if report is not None and report.ok else None,
    )


@bp.route("/import/<int:job_id>/status")
@roles_required(STAFF)
def import_status_json(job_id: int):
    return jsonify(import_jobs.status_json(access.import_job_or_404(job_id)))


def _new_accounts_note(report) -> str:
    return _(
        "New guardian accounts: %(g)d (print their activation codes from each class page). New teacher accounts: %(t)d (they receive an activation email).",
        g=report.new_guardians,
        t=report.new_teachers,
    )


@bp.route("/import/template.xlsx")
@roles_required(STAFF)
def import_template():
    return xlsx.download(exports.classes_template(), "classes.xlsx")


@bp.route("/classes/<int:class_id>")
@roles_required(STAFF + (Role.TEACHER,))
def class_page(class_id: int):
    cls = access.class_or_404(class_id)
    is_staff = current_user.role in STAFF
    if is_staff:
        audit("contactbook.view_roster", cls)
    return render_template(
        "contactbook/class.html",
        cls=cls,
        roster=classes.class_roster(cls),
        teaching=classes.class_teaching(cls),
        is_staff=is_staff,
    )


@bp.route("/classes/<int:class_id>/pupils/<int:pupil_id>/remove", methods=["POST"])
@roles_required(STAFF)
def remove_pupil(class_id: int, pupil_id: int):
    """A pupil who left: out of the class list, grade books and attendance (records are kept)."""
    cls = access.staff_class_or_404(class_id)
    pupil = access.pupil_in_class(pupil_id, cls)
    classes.remove_from_class(cls, pupil)
    flash(
        _(
            "%(name)s is no longer in class %(cls)s. Their records are kept.",
            name=pupil.full_name,
            cls=cls.name,
        ),
        "success",
    )
    return redirect(url_for("contactbook_staff.class_page", class_id=cls.id))


@bp.route("/classes/<int:class_id>/activation-codes", methods=["POST"])
@roles_required(STAFF)
def activation_sheet(class_id: int):
    """Generate (on demand) and show the printable sheet of one-time codes for the class."""
    cls = access.staff_class_or_404(class_id)
    return render_template(
        "contactbook/activation_sheet.html",
        cls=cls,
        lines=activation.issue_class_codes(cls, current_user),
        days=activation.CODE_DAYS,
        format_code=activation.format_code,
    )


# ----------------------------------------------------------------------------- the school calendar


def _year_and_terms(school: School):
    """The current year (404 without one) and the school's two terms of it."""
    year = years.current_year()
    if year is None:
        abort(404)
    return year, years.ensure_terms(school, year)


def _terms_form(year, terms, **kwargs) -> TermsForm:
    """The calendar form showing the terms' current dates."""
    data = {
        "term1_start": terms[0].starts_on,
        "term1_end": terms[0].ends_on,
        "term2_start": terms[1].starts_on,
        "term2_end": terms[1].ends_on,
    }
    return TermsForm(year=year, data=data, **kwargs)


def _calendar_page(school, year, form: TermsForm, subject_form: SubjectForm, status: int):
    return render_template(
        "contactbook/calendar.html",
        school=school,
        year=year,
        form=form,
        subjects=classes.school_subjects(school),
        subject_form=subject_form,
        grades=list(grades_of_level(school.level)),
    ), status


@bp.route("/schools/<int:school_id>/calendar", methods=["GET", "POST"])
@roles_required(STAFF)
def calendar(school_id: int):
    school = school_or_404(school_id)
    year, terms = _year_and_terms(school)
    form = TermsForm(year=year) if request.method == "POST" else _terms_form(year, terms)
    if form.validate_on_submit():
        f = form
        years.set_terms(terms, f.term1_start.data, f.term1_end.data, f.term2_start.data, f.term2_end.data)
        flash(_("The school calendar has been saved."), "success")
        return redirect(url_for("contactbook_staff.calendar", school_id=school.id))
    status = 422 if form.is_submitted() else 200
    return _calendar_page(school, year, form, SubjectForm(formdata=None), status)


@bp.route("/schools/<int:school_id>/subjects", methods=["POST"])
@roles_required(STAFF)
def add_subject(school_id: int):
    school = school_or_404(school_id)
    form = SubjectForm()
    if form.validate_on_submit():
        f = form
        if f.grade.data not in grades_of_level(school.level):
            f.grade.errors.append(_("This school does not teach grade %(grade)d.", grade=f.grade.data))
        elif not classes.add_subject(
            school, f.grade.data, f.name.data, f.assessment.data, f.regular_count.data, f.has_test.data
        ):
            f.name.errors.append(_("This grade already has a subject of that name."))
        else:
            flash(_("The subject has been added."), "success")
            return redirect(url_for("contactbook_staff.calendar", school_id=school.id))
    year, terms = _year_and_terms(school)
    return _calendar_page(school, year, _terms_form(year, terms, formdata=None), form, 422)


@bp.route("/schools/<int:school_id>/subjects/standard", methods=["POST"])
@roles_required(STAFF)
def add_standard_subjects(school_id: int):
    school = school_or_404(school_id)
    grade = request.form.get("grade", type=int)
    if grade not in grades_of_level(school.level):
        flash(_("Choose a grade this school teaches."), "error")
    else:
        added = classes.add_standard_subjects(school, grade, standard_subjects(grade))
        flash(_("%(n)d standard subjects added for grade %(grade)d.", n=added, grade=grade), "success")
    return redirect(url_for("contactbook_staff.calendar", school_id=school.id))


@bp.route("/subjects/<int:subject_id>", methods=["GET", "POST"])
@roles_required(STAFF)
def edit_subject(subject_id: int):
    subject = access.school_subject_or_404(subject_id)
    form = SubjectEditForm(grade=subject.grade, obj=subject if request.method == "GET" else None)
    if form.validate_on_submit():
        f = form
        problem = classes.update_subject(
            subject, f.name.data, f.assessment.data, f.regular_count.data, f.has_test.data
        )
        if problem is None:
            flash(_("The subject has been saved."), "success")
            return redirect(url_for("contactbook_staff.calendar", school_id=subject.school_id))
        (form.name if problem == "name_taken" else form.assessment).errors.append(SUBJECT_PROBLEMS[problem]())
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/subject.html", subject=subject, form=form), status


@bp.route("/subjects/<int:subject_id>/delete", methods=["POST"])
@roles_required(STAFF)
def delete_subject(subject_id: int):
    subject = access.school_subject_or_404(subject_id)
    school_id = subject.school_id
    problem = classes.delete_subject(subject)
    if problem is not None:
        flash(SUBJECT_PROBLEMS[problem](), "error")
        return redirect(url_for("contactbook_staff.edit_subject", subject_id=subject_id))
    flash(_("The subject has been deleted."), "success")
    return redirect(url_for("contactbook_staff.calendar", school_id=school_id))

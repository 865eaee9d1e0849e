"""Teachers: their classes, grade books (entry, publish, Excel), the homeroom overview,
comments, attendance and absence requests."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.audit import audit
from app.authz import roles_required
from app.models import Role

from . import access, exporters, grades, importers, services
from .forms import GradeSheetUploadForm
from .web import bp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/teach")
@roles_required(Role.TEACHER)
def teach():
    return render_template("contactbook/teach.html", lines=services.teacher_classes(current_user))


def _book(class_id: int, subject_id: int):
    acc = access.grade_book_or_404(class_id, subject_id)
    terms = grades.school_terms(acc.cls)
    term = grades.pick_term(terms, request.args.get("term", type=int))
    if term is None:
        abort(404)
    return acc, terms, term, grades.load_book(acc.cls, acc.subject, term, terms)


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def grade_book(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    result = None
    if request.method == "POST":
        if not acc.editable:
            abort(404)
        publish = request.form.get("action") == "publish"
        result = grades.save_entries(book, grades.entries_from_form(request.form), actor=current_user,
                                     reason=request.form.get("reason", "")[:300], publish=publish)
        if result.ok:
            if publish:
                flash(_("Saved and published: families can see the grades now."), "success")
            else:
                flash(_("Saved as draft. Families see the grades once you publish them."), "success")
            return redirect(url_for("contactbook.grade_book", class_id=class_id, subject_id=subject_id,
                                    term=term.id))
    upload = GradeSheetUploadForm(formdata=None)
    status = 422 if result is not None and not result.ok else 200
    return render_template("contactbook/grade_book.html", book=book, acc=acc, terms=terms, term=term,
                           result=result, errors=grades.ERRORS, upload=upload, fmt=grades.format_value,
                           show=grades.display_result, reason=request.form.get("reason", "")), status


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>/export.xlsx")
@roles_required(Role.TEACHER)
def grade_sheet_export(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    audit("contactbook.grade_sheet_export", acc.cls, subject_id=acc.subject.id, term_id=term.id)
    name = f"diem_{acc.cls.name}_{acc.subject.id}_HK{term.number}.xlsx"
    return Response(exporters.grade_sheet(book), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/classes/<int:class_id>/grades/<int:subject_id>/import", methods=["POST"])
@roles_required(Role.TEACHER)
def grade_sheet_import(class_id: int, subject_id: int):
    acc, terms, term, book = _book(class_id, subject_id)
    if not acc.editable:
        abort(404)
    upload = GradeSheetUploadForm()
    report = None
    if upload.validate_on_submit():
        report = importers.import_grade_sheet(upload.file.data.stream, book, actor=current_user,
                                              reason=upload.reason.data or "")
        if report.ok:
            r = report.result
            flash(_("Grade sheet imported as draft: %(n)d grades added, %(m)d changed. Check and publish.",
                    n=r.created, m=r.updated + r.changed_published), "success")
            return redirect(url_for("contactbook.grade_book", class_id=class_id, subject_id=subject_id, term=term.id))
        book = grades.load_book(acc.cls, acc.subject, term, terms)
    return render_template("contactbook/grade_book.html", book=book, acc=acc, terms=terms, term=term,
                           result=None, errors=grades.ERRORS, upload=upload, report=report,
                           fmt=grades.format_value, show=grades.display_result, reason=""), 422


@bp.route("/classes/<int:class_id>/overview")
@roles_required(Role.TEACHER)
def class_overview(class_id: int):
    """The homeroom teacher's read-only view of the whole class: each subject's term result."""
    cls = access.homeroom_class_or_404(class_id)
    terms = grades.school_terms(cls)
    term = grades.pick_term(terms, request.args.get("term", type=int))
    if term is None:
        abort(404)
    overview = services.class_overview(cls, term)
    return render_template("contactbook/overview.html", cls=cls, terms=terms, term=term, overview=overview,
                           show=grades.display_result)

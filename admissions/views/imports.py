"""Excel imports from the web: upload, progress, report, templates (formats: docs/excel-formats.md).

District officers import rows of their own district only; city admins import anything. Every
upload becomes an ImportJob run after the commit (an RQ job with Redis, in-process without),
and the status page polls its JSON endpoint to move a progress bar.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import xlsx
from app.authz import roles_required
from app.models import Role

from .. import exports, tasks
from ..access import import_job_or_404, import_scope, visible_import_jobs
from ..forms import ImportForm
from ..imports import KINDS, ImportReport

bp = Blueprint("admissions_imports", __name__, url_prefix="/admissions")

IMPORTERS = (Role.DISTRICT_OFFICER, Role.CITY_ADMIN)
SHOWN_PROBLEMS = 200
RECENT_JOBS = 20

KIND_TITLES = {
    "schools": _l("Schools"),
    "catchments": _l("Catchments"),
    "roster": _l("Residency roster"),
}
STATUS_LABELS = {
    "queued": _l("Waiting to start"),
    "running": _l("Checking rows"),
    "saving": _l("Saving"),
    "done": _l("Imported"),
    "rejected": _l("Rejected: nothing was stored"),
    "failed": _l("Failed: nothing was stored; try again"),
}


def _forms(submitted: ImportForm | None = None) -> dict[str, ImportForm]:
    forms = {kind: ImportForm(prefix=kind, formdata=None) for kind in KINDS}
    if submitted is not None:
        forms[submitted._prefix.rstrip("-")] = submitted
    return forms


def _render_index(forms, status=200):
    return render_template(
        "admissions/import.html",
        forms=forms,
        kinds=KINDS,
        titles=KIND_TITLES,
        jobs=tasks.recent_jobs(visible_import_jobs(), RECENT_JOBS),
        status_labels=STATUS_LABELS,
        scoped=import_scope() is not None,
    ), status


@bp.route("/imports")
@roles_required(IMPORTERS)
def imports():
    return _render_index(_forms())


@bp.route("/imports", methods=["POST"])
@roles_required(IMPORTERS)
def upload():
    kind = request.args.get("kind", "")
    if kind not in KINDS:
        abort(404)
    scope = import_scope()
    form = ImportForm(prefix=kind)
    if form.validate_on_submit():
        if not tasks.looks_like_xlsx(form.file.data):
            form.file.errors.append(_l("This is not an Excel .xlsx file."))
        else:
            job = tasks.start_import(kind, form.file.data, current_user, scope)
            return redirect(url_for(".import_status", job_id=job.id))
    return _render_index(_forms(form), 422)


@bp.route("/imports/template")
@roles_required(IMPORTERS)
def import_template():
    kind = request.args.get("kind", "")
    if kind not in KINDS:
        abort(404)
    return xlsx.download(exports.template_workbook(kind), exports.template_filename(kind))


@bp.route("/imports/<int:job_id>")
@roles_required(IMPORTERS)
def import_status(job_id: int):
    job = import_job_or_404(job_id)
    report = ImportReport.from_json(job.report) if job.report else None
    problems = report.problems[:SHOWN_PROBLEMS] if report else []
    more = (job.problem_count - len(problems)) if report else 0
    return render_template(
        "admissions/import_status.html",
        job=job,
        report=report,
        problems=problems,
        more=more,
        titles=KIND_TITLES,
        status_labels=STATUS_LABELS,
        final=job.status in tasks.FINAL_STATUSES,
    )


@bp.route("/imports/<int:job_id>/status")
@roles_required(IMPORTERS)
def import_status_json(job_id: int):
    job = import_job_or_404(job_id)
    return jsonify(
        id=job.id,
        kind=job.kind,
        status=job.status,
        status_label=str(STATUS_LABELS[job.status]),
        progress=job.progress,
        final=job.status in tasks.FINAL_STATUSES,
        rows=job.rows,
        created=job.created_count,
        updated=job.updated_count,
        unchanged=job.unchanged_count,
        problems=job.problem_count,
    )

"""Excel imports from the web: upload, progress, report, templates (formats: docs/excel-formats.md).

District officers import rows of their own district only; city admins import anything. Every
upload becomes the platform's import job (app.imports), run after the commit (an RQ job with
Redis, in-process without), and the status page polls its JSON endpoint to move a progress bar.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import imports as import_jobs
from app import xlsx
from app.authz import roles_required
from app.models import Role

from .. import exports
from ..access import import_job_or_404, import_scope, visible_import_jobs
from ..forms import ImportForm
from ..imports import KINDS, TITLES

bp = Blueprint("admissions_imports", __name__, url_prefix="/admissions")

IMPORTERS = (Role.DISTRICT_OFFICER, Role.CITY_ADMIN)
SHOWN_PROBLEMS = 200
RECENT_JOBS = 20


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
        titles=TITLES,
        jobs=import_jobs.recent_jobs(visible_import_jobs(), RECENT_JOBS),
        status_labels=import_jobs.STATUS_LABELS,
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
        if not import_jobs.looks_like_xlsx(form.file.data):
            form.file.errors.append(_l("This is not an Excel .xlsx file."))
        else:
            job = import_jobs.start_import(kind, form.file.data, current_user, scope)
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
    return render_template(
        "imports/status.html",
        **import_jobs.status_context(job, SHOWN_PROBLEMS),
        status_url=url_for(".import_status_json", job_id=job.id),
        back_url=url_for(".imports"),
    )


@bp.route("/imports/<int:job_id>/status")
@roles_required(IMPORTERS)
def import_status_json(job_id: int):
    job = import_job_or_404(job_id)
    return jsonify(import_jobs.status_json(job))

"""Excel imports from the web (issue 4, point 2): upload, progress, report, templates.

District officers import rows of their own district only; city admins import anything. Every
upload becomes an ImportJob run after the commit (an RQ job with Redis, in-process without),
and the status page polls its JSON endpoint to move a progress bar.
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import xlsx
from app.audit import audit
from app.authz import roles_required
from app.extensions import db
from app.forms import clean_text
from app.jobs import enqueue_after_commit
from app.models import Role, User

from . import exporters, tasks
from .forms import ImportForm
from .importers import KINDS, ImportReport
from .models import ImportJob

bp = Blueprint("admissions", __name__, url_prefix="/admissions")

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


def scope_district() -> int | None:
    """The district an importer is limited to (None: the whole city)."""
    if current_user.role == Role.CITY_ADMIN:
        return None
    if current_user.district_id is None:
        abort(403)
    return current_user.district_id


def visible_jobs():
    q = sa.select(ImportJob)
    district = scope_district()
    if district is not None:
        q = q.where(ImportJob.district_id == district)
    return q


def job_or_404(job_id: int) -> ImportJob:
    job = db.session.scalar(visible_jobs().where(ImportJob.id == job_id))
    if job is None:
        abort(404)
    return job


def _forms(submitted: ImportForm | None = None) -> dict[str, ImportForm]:
    forms = {kind: ImportForm(prefix=kind, formdata=None) for kind in KINDS}
    if submitted is not None:
        forms[submitted._prefix.rstrip("-")] = submitted
    return forms


def _recent_jobs():
    q = (
        visible_jobs()
        .add_columns(User.full_name)
        .outerjoin(User, User.id == ImportJob.user_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(RECENT_JOBS)
    )
    return db.session.execute(q).all()


def _render_index(forms, status=200):
    return render_template(
        "admissions/import.html",
        forms=forms,
        kinds=KINDS,
        titles=KIND_TITLES,
        jobs=_recent_jobs(),
        status_labels=STATUS_LABELS,
        scoped=scope_district() is not None,
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
    scope = scope_district()
    form = ImportForm(prefix=kind)
    if form.validate_on_submit():
        upload = form.file.data
        head = upload.stream.read(4)
        upload.stream.seek(0)
        if head != b"PK\x03\x04":
            form.file.errors.append(_l("This is not an Excel .xlsx file."))
        else:
            token = uuid.uuid4().hex
            os.makedirs(tasks.upload_dir(), mode=0o700, exist_ok=True)
            tasks.remove_stale_uploads()
            upload.save(tasks.upload_path(token))
            job = ImportJob(
                kind=kind,
                file_token=token,
                user_id=current_user.id,
                district_id=scope,
                filename=clean_text(os.path.basename(upload.filename or ""))[:200],
            )
            db.session.add(job)
            db.session.flush()
            audit("admissions.import.upload", job, kind=kind)
            enqueue_after_commit(tasks.run_import, job.id)
            return redirect(url_for(".import_status", job_id=job.id))
    return _render_index(_forms(form), 422)


@bp.route("/imports/template")
@roles_required(IMPORTERS)
def import_template():
    kind = request.args.get("kind", "")
    if kind not in KINDS:
        abort(404)
    return xlsx.download(exporters.template_workbook(kind), exporters.template_filename(kind))


@bp.route("/imports/<int:job_id>")
@roles_required(IMPORTERS)
def import_status(job_id: int):
    job = job_or_404(job_id)
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
    job = job_or_404(job_id)
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

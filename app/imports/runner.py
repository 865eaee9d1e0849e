"""Running an import: the upload stored outside anything served, the `ImportJob` row, the job
that checks and writes the file after the commit, its progress, and what the status pages show."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
import uuid

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import jobs, xlsx
from ..audit import audit
from ..extensions import db
from ..jobs import enqueue_after_commit
from ..models import ImportJob, ImportStatus, User, utcnow
from .kinds import import_kind

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({ImportStatus.DONE, ImportStatus.REJECTED, ImportStatus.FAILED})  # pollers stop
_SETTLED = frozenset({ImportStatus.DONE, ImportStatus.REJECTED})  # a retry of a failed job runs again
_TOKEN = re.compile(r"^[0-9a-f]{32}$")

STATUS_LABELS = {
    ImportStatus.QUEUED: _l("Waiting to start"),
    ImportStatus.RUNNING: _l("Checking rows"),
    ImportStatus.SAVING: _l("Saving"),
    ImportStatus.DONE: _l("Imported"),
    ImportStatus.REJECTED: _l("Rejected: nothing was stored"),
    ImportStatus.FAILED: _l("Failed: nothing was stored; try again"),
}


def upload_dir() -> str:
    """Uploaded import files live in the instance folder, outside anything the web server serves."""
    return os.path.join(current_app.instance_path, "uploads", "imports")


def upload_path(token: str) -> str:
    if not _TOKEN.match(token or ""):
        raise ValueError("bad upload token")
    return os.path.join(upload_dir(), f"{token}.xlsx")


def looks_like_xlsx(upload) -> bool:
    """An .xlsx file is a zip archive: check its first bytes before storing anything."""
    head = upload.stream.read(4)
    upload.stream.seek(0)
    return head == b"PK\x03\x04"


def start_import(kind: str, upload, user: User, scope: int | None = None) -> ImportJob:
    """Store the uploaded file outside anything served and queue its import (after the commit).
    `scope`: the district the rows must belong to, for kinds scoped by district."""
    spec = import_kind(kind)
    token = uuid.uuid4().hex
    os.makedirs(upload_dir(), mode=0o700, exist_ok=True)
    remove_stale_uploads()
    upload.save(upload_path(token))
    job = ImportJob(
        kind=kind,
        file_token=token,
        user_id=user.id,
        district_id=scope,
        filename=xlsx.clean_text(os.path.basename(upload.filename or ""))[:200],
    )
    db.session.add(job)
    db.session.flush()
    audit(f"{spec.audit_prefix}.upload", job, kind=kind)
    enqueue_after_commit(run_import, job.id)
    return job


def _set_status(row_id: int, **values) -> None:
    jobs.record_progress(ImportJob, row_id, **values)


def run_import(job_id: int) -> None:
    """Import the uploaded file of ImportJob `job_id`; all or nothing. Idempotent: a finished job
    is left alone, and re-running an import upserts to the same result."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.status in _SETTLED:
        return
    spec = import_kind(job.kind)
    path = upload_path(job.file_token)
    started = utcnow()
    _set_status(job_id, status=ImportStatus.RUNNING, progress=1, started_at=started)

    last = {"progress": 1}

    def progress(phase: str, fraction: float) -> None:
        value = 95 if phase == "saving" else max(1, min(int(fraction * 90), 90))
        if value != last["progress"] or phase == "saving":
            last["progress"] = value
            status = ImportStatus.SAVING if phase == "saving" else ImportStatus.RUNNING
            _set_status(job_id, status=status, progress=value)

    t0 = time.perf_counter()
    try:
        if not os.path.exists(path):
            report = spec.report_type(
                kind=job.kind, problems=[spec.report_type.problem_type(None, None, "not_xlsx")]
            )
        else:
            report = spec.run(path, job, progress)
    except Exception:
        db.session.rollback()
        _set_status(job_id, status=ImportStatus.FAILED, finished_at=utcnow())
        log.exception("import job %s failed", job_id)
        raise
    if not report.seconds:
        report.seconds = time.perf_counter() - t0

    job.status = ImportStatus.DONE if report.ok else ImportStatus.REJECTED
    job.progress = 100
    job.started_at = started
    job.finished_at = utcnow()
    job.rows = report.rows
    job.created_count, job.updated_count, job.unchanged_count = (
        report.created,
        report.updated,
        report.unchanged,
    )
    job.problem_count = report.total_problems
    job.report = report.to_json()
    audit(
        f"{spec.audit_prefix}.{job.status}",
        job,
        actor_id=job.user_id,
        kind=job.kind,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        problems=report.total_problems,
    )
    # The file holds children's data: remove it once this transaction has committed.
    enqueue_after_commit(delete_upload, job.file_token)


def recent_jobs(visible: sa.Select, limit: int) -> list:
    """The latest import jobs of a scope, each with the name of who started it."""
    q = (
        visible.add_columns(User.full_name)
        .outerjoin(User, User.id == ImportJob.user_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(limit)
    )
    return db.session.execute(q).all()


def status_json(job: ImportJob) -> dict:
    """What a status page polls (static/js/progress.js)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "status_label": str(STATUS_LABELS[ImportStatus(job.status)]),
        "progress": job.progress,
        "final": job.status in FINAL_STATUSES,
        "rows": job.rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "problems": job.problem_count,
    }


def status_context(job: ImportJob, shown_problems: int = 200) -> dict:
    """What templates/imports/status.html shows of `job` (the area adds status_url and back_url)."""
    kind = import_kind(job.kind)
    report = kind.report_type.from_json(job.report) if job.report else None
    # A problem names its column as the file wrote it, else by the format's Vietnamese header.
    problems = [
        p if p.header or p.column not in kind.labels else dataclasses.replace(p, header=kind.labels[p.column])
        for p in (report.problems[:shown_problems] if report else [])
    ]
    return {
        "job": job,
        "report": report,
        "title": kind.title,
        "problems": problems,
        "more": (job.problem_count - len(problems)) if report else 0,
        "status_labels": STATUS_LABELS,
        "final": job.status in FINAL_STATUSES,
    }


def remove_stale_uploads(max_age_hours: float = 24) -> int:
    """Delete uploaded files left behind by jobs that failed for good (children's data must not
    linger on disk). Called on each new upload; cheap: one directory listing."""
    removed = 0
    cutoff = time.time() - max_age_hours * 3600
    try:
        entries = list(os.scandir(upload_dir()))
    except FileNotFoundError:
        return 0
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.remove(entry.path)
                removed += 1
    return removed


def delete_upload(token: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(upload_path(token))

"""Excel imports from the web, one way for both areas (formats: docs/excel-formats.md).

An area registers each kind of file it imports from its register(app) with
`register_import(app, ImportKind(...))`: a title, the function that checks and writes a file
(all or nothing, flush only) and the report type it returns. The platform does the rest the
same way for every kind: the upload is stored outside anything served, an `ImportJob` row is
written, and the import runs after the commit as a job (an RQ worker with Redis, in-process
without), recording its progress for the status page to poll; the report (row, column, problem
code: no personal data) is stored with the job; the uploaded file is deleted once it has run.

- `report`: `ImportReport`, the one report of every import (created / updated / unchanged and
  the problems), stored as JSON and shown in the reader's language;
- `kinds`: `ImportKind`, `register_import`, `import_kind`, `kinds_of(area)`;
- `cli`: `echo_report`, what every import command prints;
- `runner`: `start_import`, `run_import` (the job), `recent_jobs`, and what the status page shows: `status_context`, `status_json`
  (templates/imports/status.html).
"""

from .cli import echo_report
from .kinds import ImportKind, ProgressFn, import_kind, kinds_of, register_import, registered_kinds, titles_of
from .report import STORED_PROBLEMS, ImportReport
from .runner import (
    FINAL_STATUSES,
    STATUS_LABELS,
    delete_upload,
    looks_like_xlsx,
    recent_jobs,
    remove_stale_uploads,
    run_import,
    start_import,
    status_context,
    status_json,
    upload_dir,
    upload_path,
)

__all__ = [
    "FINAL_STATUSES",
    "STATUS_LABELS",
    "STORED_PROBLEMS",
    "ImportKind",
    "ImportReport",
    "ProgressFn",
    "delete_upload",
    "echo_report",
    "import_kind",
    "kinds_of",
    "looks_like_xlsx",
    "recent_jobs",
    "register_import",
    "registered_kinds",
    "remove_stale_uploads",
    "run_import",
    "start_import",
    "status_context",
    "status_json",
    "titles_of",
    "upload_dir",
    "upload_path",
]

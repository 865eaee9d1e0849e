"""Background jobs of the admissions area (run by app.jobs: RQ worker, or in-process without Redis).

Excel imports run as the platform's import job (app.imports); the names below keep the job paths
(`admissions.tasks:run_import`, `admissions.tasks:delete_upload`) of imports queued before the
import runner moved there.
"""

from __future__ import annotations

from app.imports import delete_upload, run_import

__all__ = ["delete_upload", "run_import"]

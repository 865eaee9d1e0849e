"""The report of an admissions import: the platform's `ImportReport` (app.imports) whose
problems speak admissions' own codes too (cells.MESSAGES)."""

from __future__ import annotations

from typing import ClassVar

from app import imports, xlsx

from . import cells as v


class Problem(xlsx.Problem):
    """One thing wrong (app.xlsx.Problem), its message from admissions' own codes too."""

    messages = v.MESSAGES


class ImportReport(imports.ImportReport):
    problem_type: ClassVar[type[xlsx.Problem]] = Problem

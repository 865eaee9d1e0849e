"""The kinds of file the areas import: each registered from the area's register(app)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import Flask, current_app

from ..models import ImportJob
from .report import ImportReport

ProgressFn = Callable[[str, float], None]  # (phase "reading" | "saving", fraction 0..1)


@dataclass(frozen=True)
class ImportKind:
    """`run(path, job, progress)` checks the file at `path` for `job` (its scope is the job's
    user and district) and, only when no row has a problem, writes it — flush only, the job
    commits. It returns its report; `report_type` reads a stored one back. `area` is the
    registering area (its pages list its own kinds' jobs); `audit_prefix` names the audit events
    (`<prefix>.upload`, `<prefix>.done`, `<prefix>.rejected`). `labels`: each column's name in
    the format → its Vietnamese header, for the problems whose header the file did not give."""

    area: str
    name: str
    title: object  # a lazy_gettext string
    run: Callable[[str, ImportJob, ProgressFn], ImportReport]
    report_type: type[ImportReport]
    audit_prefix: str
    labels: Mapping[str, str] = field(default_factory=dict)


def register_import(app: Flask, kind: ImportKind) -> ImportKind:
    """Declare a kind of import (registering it again replaces it)."""
    app.extensions.setdefault("import_kinds", {})[kind.name] = kind
    return kind


def registered_kinds() -> dict[str, ImportKind]:
    return current_app.extensions.get("import_kinds", {})


def kinds_of(area: str) -> list[str]:
    """The names of the kinds `area` registered."""
    return [k.name for k in registered_kinds().values() if k.area == area]


def titles_of(area: str) -> dict[str, object]:
    """Each kind `area` registered → its title (for the lists of recent imports)."""
    return {k.name: k.title for k in registered_kinds().values() if k.area == area}


def import_kind(name: str) -> ImportKind:
    kind = registered_kinds().get(name)
    if kind is None:
        raise ValueError(f"unknown import kind {name!r}; call register_import() first")
    return kind

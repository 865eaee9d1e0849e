"""Loading records for the office's pages: a missing or out-of-scope record is a 404 (never say
that it exists)."""

from __future__ import annotations

from flask import abort

from app.authz import school_or_404
from app.extensions import db
from app.models import School

from .models import AdmissionLevel


def level_or_404(level_id: int) -> AdmissionLevel:
    level = db.session.get(AdmissionLevel, level_id)
    if level is None:
        abort(404)
    return level


def level_school_or_404(school_id: int, level: AdmissionLevel) -> School:
    """A school of `level` that the current user may manage."""
    school = school_or_404(school_id)
    if school.level != level.level:
        abort(404)
    return school

"""Admissions' endpoints of the machine API (/api/v1, app.api): schools and their catchments,
the admitted children of a school, and the residency roster upsert (the Excel import's own checks).

Scope: a city client sees every school; a district client its district's; a school client its
school. A school outside the scope answers 404, as if it did not exist."""

from __future__ import annotations

import io
from datetime import datetime

import sqlalchemy as sa
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from app.api import api_blueprint, current_client, current_scope, endpoint, id_or_404, school_in_scope
from app.api.fields import UtcDateTime
from app.audit import audit
from app.extensions import db
from app.models import School, utcnow

from . import dashboard, seasons, transcript
from .access import public_district_or_404, public_level_or_404, public_round_or_404
from .imports import COLUMNS, import_workbook
from .models import AdmissionLevel, AdmissionSeason, Application, ApplicationStatus, Catchment, Child
from .rules import RoundError

blp = api_blueprint(
    "api_admissions", __name__, description="Admissions: schools, catchments, results, roster"
)

ADMITTED = (ApplicationStatus.OFFERED, ApplicationStatus.CONFIRMED)
MAX_ROSTER_ROWS = 5000


class SchoolSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    district_id = fields.Integer(required=True)
    district = fields.String(required=True, attribute="district.name")
    ward = fields.String(allow_none=True, attribute="ward.name")
    address = fields.String(required=True)
    capacity = fields.Integer(required=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)


class SchoolQuery(Schema):
    level = fields.String(validate=validate.OneOf(("kindergarten", "grade1", "grade6")))


class CatchmentSchema(Schema):
    district = fields.String(required=True)
    ward = fields.String(required=True)
    residential_group = fields.String(allow_none=True)


class AdmittedSchema(Schema):
    reference = fields.String(required=True)
    personal_id = fields.String(required=True)
    full_name = fields.String(required=True)
    date_of_birth = fields.Date(required=True)
    gender = fields.String(required=True)
    level = fields.String(required=True)
    status = fields.String(required=True)
    confirmed_at = UtcDateTime(allow_none=True)


def _text(max_len: int, **kwargs) -> fields.String:
    """A cell's text: what a spreadsheet cell can hold (no control characters)."""
    return fields.String(
        validate=[validate.Length(max=max_len), validate.Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")],
        **kwargs,
    )


class RosterRowSchema(Schema):
    """One row of roster.xlsx (docs/excel-formats.md): the same columns, the same accepted values
    (gender "Nam"/"Nữ" or "male"/"female", residence "Thường trú"/"Tạm trú" or English)."""

    personal_id = _text(40, required=True)
    full_name = _text(200, required=True)
    date_of_birth = fields.Date(required=True)
    gender = _text(20, required=True)
    district = _text(200, required=True)
    ward = _text(200, required=True)
    residential_group = _text(200, allow_none=True)
    residence_type = _text(40, required=True)
    guardian_name = _text(200, required=True)
    guardian_phone = _text(40, allow_none=True)


class RosterUpsertSchema(Schema):
    rows = fields.List(
        fields.Nested(RosterRowSchema), required=True, validate=validate.Length(min=1, max=MAX_ROSTER_ROWS)
    )


class RosterReportSchema(Schema):
    rows = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


class SchoolFiguresSchema(Schema):
    school_id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    capacity = fields.Integer(required=True)
    first_choice = fields.Integer(required=True)
    catchment = fields.Integer(required=True)
    any_choice = fields.Integer(required=True)
    placed = fields.Integer(required=True)
    confirmed = fields.Integer(required=True)


class RoundSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    status = fields.String(required=True)
    seed_sha256 = fields.String(required=True)
    seed = fields.String(allow_none=True)
    published_at = UtcDateTime(allow_none=True)


class FiguresSchema(Schema):
    """The public figures of a district for a level (the public district page)."""

    level = fields.String(required=True)
    district_id = fields.Integer(required=True)
    as_of = UtcDateTime(required=True)
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    schools = fields.List(fields.Nested(SchoolFiguresSchema), required=True)
    rounds = fields.List(fields.Nested(RoundSchema), required=True)
    latest_round = fields.Integer(allow_none=True)


class TranscriptSchema(Schema):
    """A published round's transcript (docs/verification.md): its format is documented there."""

    format = fields.String(required=True)
    round = fields.Integer(required=True)
    attempt = fields.Integer(required=True)
    level = fields.String(required=True)
    district_id = fields.Integer(required=True)
    entries = fields.Dict(required=True)
    randomness = fields.Dict(required=True)
    lottery_seed = fields.String(required=True)
    lottery = fields.Dict(required=True)
    result = fields.Dict(required=True)
    published_at = fields.String(allow_none=True)


@endpoint(blp, "/schools", SchoolSchema(many=True), query=SchoolQuery)
def schools(query):
    """The schools in the client's scope."""
    q = sa.select(School).where(current_scope().schools_filter()).order_by(School.code)
    if query.get("level"):
        q = q.where(School.level == query["level"])
    return db.session.scalars(q.options(sa.orm.joinedload(School.district), sa.orm.joinedload(School.ward)))


@endpoint(blp, "/schools/<int:school_id>/catchments", CatchmentSchema(many=True))
def catchments(school_id: int):
    """The residential areas whose children belong to this school."""
    school = school_in_scope(school_id)
    rows = db.session.scalars(
        sa.select(Catchment)
        .where(Catchment.school_id == school.id)
        .options(sa.orm.joinedload(Catchment.ward), sa.orm.joinedload(Catchment.residential_group))
    )
    return [
        {
            "district": c.ward.district.name,
            "ward": c.ward.name,
            "residential_group": c.residential_group.name if c.residential_group else None,
        }
        for c in rows
    ]


@endpoint(blp, "/schools/<int:school_id>/admitted", AdmittedSchema(many=True))
def admitted(school_id: int):
    """The children offered or confirmed a seat at this school (official season, not the trial)."""
    school = school_in_scope(school_id)
    rows = db.session.execute(
        sa.select(Application, Child, AdmissionLevel.level)
        .join(Child, Child.id == Application.child_id)
        .join(AdmissionLevel, AdmissionLevel.id == Application.admission_level_id)
        .join(AdmissionSeason, AdmissionSeason.id == AdmissionLevel.season_id)
        .where(
            Application.allocated_school_id == school.id,
            Application.status.in_(ADMITTED),
            Application.is_trial.is_(False),
        )
        .options(sa.orm.joinedload(Child.roster_entry))
        .order_by(Child.full_name, Application.id)
    )
    return [
        {
            "reference": a.reference,
            "personal_id": child.roster_entry.personal_id,
            "full_name": child.full_name,
            "date_of_birth": child.date_of_birth,
            "gender": child.gender,
            "level": level,
            "status": a.status,
            "confirmed_at": a.confirmed_at,
        }
        for a, child, level in rows
    ]


@endpoint(blp, "/levels/<int:level_id>/districts/<int:district_id>/figures", FiguresSchema)
def figures(level_id: int, district_id: int):
    """A district's public figures for a level: per school, registrations against seats and
    published results; the official rounds (their seeds once published). The same figures as the
    public district page."""
    level = public_level_or_404(id_or_404(level_id))
    public_district_or_404(id_or_404(district_id))
    if not current_scope().sees_district(district_id):
        abort(404)
    f = dashboard.public_district(level, district_id, seasons.now())
    return {
        "level": level.level,
        "district_id": district_id,
        "as_of": f.as_of,
        "totals": f.totals,
        "schools": f.rows,
        "rounds": f.rounds,
        "latest_round": f.latest_number,
    }


@endpoint(blp, "/rounds/<int:round_id>/transcript", TranscriptSchema)
def round_transcript(round_id: int):
    """The transcript of a published official round 1, as the public file (docs/verification.md)."""
    rnd = public_round_or_404(id_or_404(round_id), published=True)
    if not current_scope().sees_district(rnd.district_id):
        abort(404)
    try:
        return transcript.transcript(rnd)
    except RoundError:
        abort(404)


def roster_workbook(rows: list[dict]) -> io.BytesIO:
    """The JSON rows as the roster.xlsx the Excel import reads (docs/excel-formats.md): the same
    checks then apply to both, row for row (JSON row i is sheet row i + 2)."""
    columns = COLUMNS["roster"]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("roster")
    ws.append([c.label for c in columns])
    for row in rows:
        values = []
        for c in columns:
            value = row.get(c.name)
            if c.name == "date_of_birth" and value is not None:
                value = datetime(value.year, value.month, value.day)
            elif isinstance(value, str):
                value = WriteOnlyCell(ws, value=value)
                value.data_type = "s"  # text stays text: "=…" is not turned into a formula
            values.append(value)
        ws.append(values)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


@endpoint(blp, "/roster", RosterReportSchema, body=RosterUpsertSchema, write=True)
def roster_upsert(body):
    """Create or update residency roster entries by personal ID: every row is checked as in the
    Excel import, and nothing is written unless every row is right (problems by row in `errors`,
    rows counted from 0)."""
    scope = current_scope()
    if scope.school_id is not None:
        abort(403)
    report = import_workbook("roster", roster_workbook(body["rows"]), scope=scope.district_id)
    if report.problems:
        problems = {}
        for p in report.problems:
            key = str(p.row - 2) if p.row is not None else "_file"
            problems.setdefault(key, []).append({"column": p.column, "code": p.code, "message": p.message()})
        abort(422, errors=problems)
    audit(
        "api.roster_upsert",
        ("api_client", current_client().id),
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        at=utcnow().isoformat(timespec="seconds"),
    )
    return {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
    }

"""The contact book's endpoints of the machine API (/api/v1, app.api): a school's class rosters
and its published grades, for the school's own systems (this academic year). Drafts are the
teacher's: only published grades leave the app. A school outside the client's scope: 404."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from app.api import api_blueprint, endpoint, school_in_scope
from app.api.fields import UtcDateTime
from app.extensions import db
from app.years import current_year_id

from .models import Enrolment, Grade, GradeStatus, Pupil, SchoolClass, Subject, Term

blp = api_blueprint("api_contactbook", __name__, description="Contact book: class rosters, published grades")


class PupilSchema(Schema):
    pupil_code = fields.String(required=True)
    full_name = fields.String(required=True)
    date_of_birth = fields.Date(required=True)
    gender = fields.String(required=True)


class ClassSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    grade = fields.Integer(required=True)
    pupils = fields.List(fields.Nested(PupilSchema), required=True)


class GradeQuery(Schema):
    term = fields.Integer(validate=validate.OneOf((1, 2)))


class GradeSchema(Schema):
    pupil_code = fields.String(required=True)
    class_name = fields.String(required=True)
    subject = fields.String(required=True)
    term = fields.Integer(required=True)
    kind = fields.String(required=True)
    seq = fields.Integer(required=True)
    score = fields.Float(allow_none=True)
    mark = fields.String(allow_none=True)
    published_at = UtcDateTime(allow_none=True)


@endpoint(blp, "/schools/<int:school_id>/classes", ClassSchema(many=True))
def classes(school_id: int):
    """This year's classes of the school and their pupils."""
    school = school_in_scope(school_id)
    year_id = current_year_id()
    rows = db.session.execute(
        sa.select(SchoolClass, Pupil)
        .outerjoin(Enrolment, Enrolment.class_id == SchoolClass.id)
        .outerjoin(Pupil, Pupil.id == Enrolment.pupil_id)
        .where(SchoolClass.school_id == school.id, SchoolClass.academic_year_id == year_id)
        .order_by(SchoolClass.grade, SchoolClass.name, Pupil.full_name, Pupil.id)
    )
    out: dict[int, dict] = {}
    for cls, pupil in rows:
        entry = out.setdefault(cls.id, {"id": cls.id, "name": cls.name, "grade": cls.grade, "pupils": []})
        if pupil is not None:
            entry["pupils"].append(pupil)
    return list(out.values())


@endpoint(blp, "/schools/<int:school_id>/grades", GradeSchema(many=True), query=GradeQuery)
def grades(query, school_id: int):
    """This year's published grades of the school's pupils (one term with `term`)."""
    school = school_in_scope(school_id)
    year_id = current_year_id()
    q = (
        sa.select(Grade, Pupil.pupil_code, SchoolClass.name, Subject.name, Term.number)
        .join(Pupil, Pupil.id == Grade.pupil_id)
        .join(Term, Term.id == Grade.term_id)
        .join(Subject, Subject.id == Grade.subject_id)
        .join(
            Enrolment,
            sa.and_(Enrolment.pupil_id == Pupil.id, Enrolment.academic_year_id == Term.academic_year_id),
        )
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(
            Term.school_id == school.id,
            Term.academic_year_id == year_id,
            Pupil.school_id == school.id,
            Grade.status == GradeStatus.PUBLISHED,
        )
        .order_by(SchoolClass.name, Pupil.pupil_code, Subject.name, Term.number, Grade.kind, Grade.seq)
    )
    if query.get("term"):
        q = q.where(Term.number == query["term"])
    rows = []
    for g, code, class_name, subject, term in db.session.execute(q):
        rows.append(
            {
                "pupil_code": code,
                "class_name": class_name,
                "subject": subject,
                "term": term,
                "kind": g.kind,
                "seq": g.seq,
                "score": float(g.score) if g.score is not None else None,
                "mark": g.mark,
                "published_at": g.published_at,
            }
        )
    return rows

"""Admission council pages (issue 4, point 10): the school's queue, one application's documents and
thread, and the family's answer. Rules and scope: admissions/council.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from app.audit import audit
from app.authz import roles_required
from app.extensions import db
from app.forms import clean_text
from app.models import OFFICER_ROLES, District, Role, School

from . import applications, council, eligibility, notify, rules, seasons
from .access import level_or_404, level_school_or_404
from .season_forms import level_labels

bp = Blueprint("admissions_council", __name__, url_prefix="/admissions/council")

STAFF = (*OFFICER_ROLES, Role.SCHOOL_STAFF)
PAGE_SIZE = 50
MAX_PAGE = 100_000  # a page number beyond any school's queue (keeps OFFSET in the integer range)


def _strip(value):
    return clean_text(value) if isinstance(value, str) else value


class DocumentsForm(FlaskForm):
    """One status and one note per document kind (fields named status_<kind>, note_<kind>)."""

    status_birth_certificate = SelectField(_l("Birth certificate"), choices=[])
    note_birth_certificate = TextAreaField(
        _l("Note to the family (required for a problem)"),
        filters=[_strip],
        validators=[Length(max=council.NOTE_MAX)],
    )
    status_residence_proof = SelectField(_l("Proof of residence"), choices=[])
    note_residence_proof = TextAreaField(
        _l("Note to the family (required for a problem)"),
        filters=[_strip],
        validators=[Length(max=council.NOTE_MAX)],
    )
    status_priority_proof = SelectField(_l("Proof of priority"), choices=[])
    note_priority_proof = TextAreaField(
        _l("Note to the family (required for a problem)"),
        filters=[_strip],
        validators=[Length(max=council.NOTE_MAX)],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = notify.document_status_labels()
        for kind in council.KINDS:
            self[f"status_{kind}"].choices = [SelectChoice(s.value, labels[s]) for s in council.D]

    def pairs(self):
        return [(kind.value, self[f"status_{kind}"], self[f"note_{kind}"]) for kind in council.KINDS]


class MessageForm(FlaskForm):
    body = TextAreaField(
        _l("Message"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Write a message.")),
            Length(max=council.MESSAGE_MAX, message=_l("Write at most %(max)d characters.")),
        ],
    )


def error_text(code: str) -> str:
    return {
        "note_required": _("Write a note for the family: what is wrong and what to bring."),
        "note_too_long": _("Write at most %(n)d characters.", n=council.NOTE_MAX),
        "invalid": _("Choose a status from the list."),
        "empty": _("Write a message."),
        "too_long": _("Write at most %(n)d characters.", n=council.MESSAGE_MAX),
        "nothing_to_answer": _("The school's council has not written to you about this application."),
    }[code]


def _reviewable_or_404(application_id: int):
    found = council.reviewable(current_user, application_id)
    if found is None:
        abort(404)
    return found


def _common() -> dict:
    return {
        "kinds": notify.kind_labels(),
        "doc_statuses": notify.document_status_labels(),
        "states": notify.council_state_labels(),
        "labels": level_labels(),
    }


@bp.route("/")
@roles_required(STAFF)
def index():
    season = seasons.current_season()
    levels = sorted(season.levels, key=lambda lv: rules.LEVELS.index(lv.level)) if season else []
    district_id = request.args.get("district_id", type=int)
    if current_user.role == Role.DISTRICT_OFFICER:
        district_id = current_user.district_id
    schools, districts = [], []
    if current_user.role == Role.SCHOOL_STAFF:
        schools = [current_user.school] if current_user.school else []
    else:
        if current_user.role == Role.CITY_ADMIN:
            districts = db.session.scalars(sa.select(District).order_by(District.name)).all()
            if district_id not in {d.id for d in districts}:
                district_id = None  # unknown or hostile value (e.g. out of the integer range): no list
        if district_id:
            schools = db.session.scalars(
                sa.select(School).where(School.district_id == district_id).order_by(School.level, School.name)
            ).all()
    return render_template(
        "admissions/council_index.html",
        season=season,
        levels=levels,
        schools=schools,
        districts=districts,
        district_id=district_id,
        **_common(),
    )


@bp.route("/levels/<int:level_id>/schools/<int:school_id>")
@roles_required(STAFF)
def queue(level_id: int, school_id: int):
    level = level_or_404(level_id)
    school = level_school_or_404(school_id, level)
    show = request.args.get("show", "todo")
    if show not in council.FILTERS:
        show = "todo"
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    search = clean_text(request.args.get("q", ""))[:120]
    result = council.queue(level.id, school.id, show=show, search=search, page=page, per_page=PAGE_SIZE)
    # Staff looked at a list of children's records: who, when, which list (ids only).
    audit(
        "admissions.council.queue.view",
        school,
        level_id=level.id,
        show=show,
        page=page,
        rows=len(result.rows),
        search=bool(search),
    )
    return render_template(
        "admissions/council_queue.html",
        level=level,
        school=school,
        result=result,
        show=show,
        search=search,
        **_common(),
    )


def _review_page(
    app_,
    school,
    form: DocumentsForm | None = None,
    message_form: MessageForm | None = None,
    status: int = 200,
):
    docs = council.documents_of(app_)
    if form is None:
        form = DocumentsForm(formdata=None)
        for d in docs:
            form[f"status_{d.kind}"].data = d.status
            form[f"note_{d.kind}"].data = d.note
    child = app_.child
    roster = child.roster_entry
    names = eligibility.school_names({c.school_id for c in app_.choices} | set(app_.sibling_school_ids or []))
    return render_template(
        "admissions/council_application.html",
        app_=app_,
        child=child,
        school=school,
        masked_id=rules.mask_personal_id(roster.personal_id if roster else None),
        docs={d.kind: d for d in docs},
        form=form,
        message_form=message_form or MessageForm(formdata=None),
        messages=council.messages_of(app_.id),
        school_names=names,
        sibling_names=[names.get(sid, "") for sid in app_.sibling_school_ids or []],
        **_common(),
    ), status


@bp.route("/applications/<int:application_id>")
@roles_required(STAFF)
def application(application_id: int):
    app_, school = _reviewable_or_404(application_id)
    # A staff view of a child's record: logged (ids only).
    audit("admissions.council.view", app_, school_id=school.id, child_id=app_.child_id)
    return _review_page(app_, school)


@bp.route("/applications/<int:application_id>/documents", methods=["POST"])
@roles_required(STAFF)
def documents(application_id: int):
    app_, school = _reviewable_or_404(application_id)
    form = DocumentsForm()
    if form.validate_on_submit():
        changes = {kind: (status.data, note.data or "") for kind, status, note in form.pairs()}
        try:
            result = council.update_documents(app_, school, current_user, changes)
        except council.CouncilError as err:
            target = form[f"note_{err.field}"] if err.code.startswith("note") else form[f"status_{err.field}"]
            target.errors = [*target.errors, error_text(err.code)]
        else:
            if result["flagged"]:
                flash(_("Saved. The family has been told about the problem and can answer here."), "success")
            elif result["changed"]:
                flash(_("Saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for(".application", application_id=app_.id))
    return _review_page(app_, school, form=form, status=422)


@bp.route("/applications/<int:application_id>/messages", methods=["POST"])
@roles_required(STAFF)
def message(application_id: int):
    app_, school = _reviewable_or_404(application_id)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            council.council_message(app_, school, current_user, form.body.data)
        except council.CouncilError as err:
            form.body.errors = [*form.body.errors, error_text(err.code)]
        else:
            flash(_("Message sent to the family."), "success")
            return redirect(url_for(".application", application_id=app_.id) + "#thread")
    return _review_page(app_, school, message_form=form, status=422)


# ---- the family's side ------------------------------------------------------------------------------


def _own_application_or_404(application_id: int):
    app_ = applications.application_of(current_user, application_id)
    if app_ is None:
        abort(404)
    return app_


@bp.route("/replies/<int:application_id>", methods=["POST"])
@roles_required(Role.PARENT)
def family_reply(application_id: int):
    app_ = _own_application_or_404(application_id)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            council.family_reply(app_, current_user, form.body.data)
        except council.CouncilError as err:
            form.body.errors = [*form.body.errors, error_text(err.code)]
        else:
            flash(_("Your answer has been sent to the school's admission council."), "success")
            return redirect(url_for("admissions_parent.child", child_id=app_.child_id))
    return render_template(
        "admissions/council_reply.html", a=app_, child=app_.child, form=form, **_common()
    ), 422


@bp.app_template_global("council_kind_labels")
def council_kind_labels():
    return notify.kind_labels()


@bp.app_template_global("council_status_labels")
def council_status_labels():
    return notify.document_status_labels()


@bp.app_template_global("council_flags")
def council_flags(application):
    """For templates/admissions/_council_flags.html on the parent's pages: the council's findings
    about one of the current user's own children (None otherwise). Loaded once per request for all
    of the parent's children (two queries), so that pages listing many children stay bounded."""
    if application is None or not current_user.is_authenticated or current_user.role != Role.PARENT:
        return None
    views = g.get("council_family_views")
    if views is None:
        views = g.council_family_views = council.family_views(current_user)
    return views.get(application.id)

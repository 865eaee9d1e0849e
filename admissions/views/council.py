"""The school's admission council: its queue, one application's documents and the thread with the
family. Rules and scope: admissions/council.py and admissions/access.py; the family's answer is
on the parent's side (views/parent.py).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.audit import audit
from app.authz import roles_required
from app.forms import clean_text
from app.models import OFFICER_ROLES, Role
from app.paging import page_arg

from .. import council, eligibility, notify, rules, seasons
from ..access import council_schools, level_or_404, level_school_or_404, reviewable_or_404
from ..forms import DocumentsForm, MessageForm, level_labels
from ..models import MESSAGE_MAX, NOTE_MAX

bp = Blueprint("admissions_council", __name__, url_prefix="/admissions/council")

STAFF = (*OFFICER_ROLES, Role.SCHOOL_STAFF)
PAGE_SIZE = 50


def error_text(code: str) -> str:
    return {
        "note_required": _("Write a note for the family: what is wrong and what to bring."),
        "note_too_long": _("Write at most %(n)d characters.", n=NOTE_MAX),
        "invalid": _("Choose a status from the list."),
        "empty": _("Write a message."),
        "too_long": _("Write at most %(n)d characters.", n=MESSAGE_MAX),
        "nothing_to_answer": _("The school's council has not written to you about this application."),
    }[code]


def council_labels() -> dict:
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
    districts, district_id, schools = council_schools(request.args.get("district_id", type=int))
    return render_template(
        "admissions/council_index.html",
        season=season,
        levels=levels,
        schools=schools,
        districts=districts,
        district_id=district_id,
        **council_labels(),
    )


@bp.route("/levels/<int:level_id>/schools/<int:school_id>", methods=["GET", "POST"])
@roles_required(STAFF)
def queue(level_id: int, school_id: int):
    """The queue; a search is POSTed (a child's name never goes into a URL, and so never into
    access logs or browser history), and so are the filter and page links of a search."""
    level = level_or_404(level_id)
    school = level_school_or_404(school_id, level)
    params = request.form if request.method == "POST" else request.args
    show = params.get("show", "todo")
    if show not in council.FILTERS:
        show = "todo"
    page = page_arg(source=params)
    search = clean_text(request.form.get("q", ""))[:120] if request.method == "POST" else ""
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
        **council_labels(),
    )


def _review_page(
    app_,
    school,
    form: DocumentsForm | None = None,
    message_form: MessageForm | None = None,
    status: int = 200,
):
    docs = council.documents_of(app_)
    form = form or DocumentsForm(formdata=None).fill(docs)
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
        **council_labels(),
    ), status


@bp.route("/applications/<int:application_id>")
@roles_required(STAFF)
def application(application_id: int):
    app_, school = reviewable_or_404(application_id)
    # A staff view of a child's record: logged (ids only).
    audit("admissions.council.view", app_, school_id=school.id, child_id=app_.child_id)
    return _review_page(app_, school)


@bp.route("/applications/<int:application_id>/documents", methods=["POST"])
@roles_required(STAFF)
def documents(application_id: int):
    app_, school = reviewable_or_404(application_id)
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
    app_, school = reviewable_or_404(application_id)
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

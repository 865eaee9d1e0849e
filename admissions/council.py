"""Admission council at each school: documents checked, problems flagged to the family.

Rules (documented here because views and tests rely on them):

- **Which council.** An application is in the queue of the school it is placed at
  (`allocated_school_id`: allocated, offered or confirmed there); before any placement, of its
  1st-choice school. Withdrawn, declined and expired applications leave every queue. Checks
  belong to the application, not to the school: a child placed elsewhere later keeps what was
  already checked, and the new school's council sees it.
- **Who.** School staff of that school, and the officers of its district (city administrators
  anywhere) — the same scope as the school's other pages. Teachers and parents: no.
- **Documents.** Birth certificate and proof of residence always; proof of priority only when the
  application claims one (a brother or sister at a school) — otherwise it shows as "not needed"
  unless the council records it. Each is pending, checked, not needed, or a problem. A problem
  needs a note: the note is sent to the family (in-app notification, and on the child's status
  page), who can answer in a thread with the council.
- **State** of an application for the queue (CouncilReview): problem if any document is flagged,
  complete when every required document is checked or not needed, else incomplete; plus "the
  family replied" until the council acts again.
- Every council action and every staff view of a child's record is audited (ids, kinds and
  statuses only; never the notes or messages, which may hold personal data).

Functions change data and flush only; the boundary commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.models import School, User, utcnow

from . import notify
from .access import OUT_OF_QUEUE
from .models import (
    MESSAGE_MAX,
    NOTE_MAX,
    Application,
    ApplicationChoice,
    Child,
    CouncilMessage,
    CouncilReview,
    CouncilState,
    DocumentCheck,
    DocumentKind,
    DocumentStatus,
    ParentChild,
)

K, D = DocumentKind, DocumentStatus
KINDS = (K.BIRTH_CERTIFICATE, K.RESIDENCE_PROOF, K.PRIORITY_PROOF)
ALWAYS_REQUIRED = (K.BIRTH_CERTIFICATE, K.RESIDENCE_PROOF)
DONE = (D.CHECKED, D.NOT_NEEDED)


class CouncilError(Exception):
    """A rule refused the operation; `code` names it for the view to translate."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code = code
        self.field = field


# ---- pure rules -----------------------------------------------------------------------------------


def required_kinds(sibling_school_ids) -> tuple[str, ...]:
    return (*ALWAYS_REQUIRED, K.PRIORITY_PROOF) if sibling_school_ids else ALWAYS_REQUIRED


def effective_status(kind: str, stored: str | None, required: tuple[str, ...]) -> str:
    if stored is not None:
        return stored
    return D.PENDING if kind in required else D.NOT_NEEDED


def review_state(statuses: dict[str, str], required: tuple[str, ...]) -> str:
    """statuses: kind -> stored status (missing = never recorded)."""
    if any(s == D.PROBLEM for s in statuses.values()):
        return CouncilState.PROBLEM
    if all(statuses.get(k) in DONE for k in required):
        return CouncilState.COMPLETE
    return CouncilState.INCOMPLETE


# ---- scope ------------------------------------------------------------------------------------------


def first_choice_ids(school_id: int) -> sa.Select:
    return sa.select(ApplicationChoice.application_id).where(
        ApplicationChoice.school_id == school_id, ApplicationChoice.rank == 1
    )


def at_school(school_id: int):
    """WHERE on Application: in this school's council queue."""
    return sa.and_(
        Application.status.not_in(OUT_OF_QUEUE),
        sa.or_(
            Application.allocated_school_id == school_id,
            sa.and_(
                Application.allocated_school_id.is_(None), Application.id.in_(first_choice_ids(school_id))
            ),
        ),
    )


# ---- the queue --------------------------------------------------------------------------------------

FILTERS = ("todo", "problem", "replied", "complete", "all")


@dataclass
class QueueRow:
    application: Application
    child: Child
    state: str
    family_replied: bool
    documents: dict[str, str] = field(default_factory=dict)  # kind -> effective status


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def queue(
    level_id: int, school_id: int, *, show: str = "todo", search: str = "", page: int = 1, per_page: int = 50
) -> QueuePage:
    """One school's queue for one level: four queries whatever the page size."""
    base = (
        sa.select(Application, Child, CouncilReview.state, CouncilReview.family_replied)
        .join(Child, Child.id == Application.child_id)
        .outerjoin(CouncilReview, CouncilReview.application_id == Application.id)
        .where(Application.admission_level_id == level_id, at_school(school_id))
    )
    state = sa.func.coalesce(CouncilReview.state, CouncilState.INCOMPLETE)
    replied = sa.func.coalesce(CouncilReview.family_replied, sa.false())
    # Counts per filter (one query) for the filter links.
    count_q = (
        sa.select(state, replied, sa.func.count())
        .select_from(Application)
        .outerjoin(CouncilReview, CouncilReview.application_id == Application.id)
        .where(Application.admission_level_id == level_id, at_school(school_id))
        .group_by(state, replied)
    )
    counts = dict.fromkeys(FILTERS, 0)
    for st, rep, n in db.session.execute(count_q):
        counts["all"] += n
        counts[{"incomplete": "todo"}.get(st, st)] += n
        if rep:
            counts["replied"] += n
    q = base
    if show == "todo":
        q = q.where(state == CouncilState.INCOMPLETE)
    elif show in ("problem", "complete"):
        q = q.where(state == show)
    elif show == "replied":
        q = q.where(replied.is_(True))
    search = (search or "").strip()
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(sa.or_(Application.reference == search.upper(), Child.full_name.ilike(like, escape="\\")))
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(q.with_only_columns(Application.id).subquery())
    )
    result = db.session.execute(
        q.order_by(replied.desc(), Child.full_name, Application.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    ids = [a.id for a, *_rest in result]
    stored: dict[int, dict[str, str]] = defaultdict(dict)
    if ids:
        for aid, kind, status in db.session.execute(
            sa.select(DocumentCheck.application_id, DocumentCheck.kind, DocumentCheck.status).where(
                DocumentCheck.application_id.in_(ids)
            )
        ):
            stored[aid][kind] = status
    rows = []
    for app_, child, st, rep in result:
        required = required_kinds(app_.sibling_school_ids)
        docs = {k.value: effective_status(k, stored[app_.id].get(k), required) for k in KINDS}
        rows.append(QueueRow(app_, child, st or CouncilState.INCOMPLETE, bool(rep), docs))
    return QueuePage(rows, total or 0, page, per_page, counts)


# ---- one application ----------------------------------------------------------------------------------


@dataclass
class DocumentView:
    kind: str
    status: str  # effective
    required: bool
    note: str
    checked_by: str | None
    checked_at: datetime | None
    recorded: bool


def documents_of(app_: Application) -> list[DocumentView]:
    required = required_kinds(app_.sibling_school_ids)
    rows = {
        c.kind: (c, name)
        for c, name in db.session.execute(
            sa.select(DocumentCheck, User.full_name)
            .outerjoin(User, User.id == DocumentCheck.checked_by_id)
            .where(DocumentCheck.application_id == app_.id)
        )
    }
    out = []
    for k in KINDS:
        check, name = rows.get(k, (None, None))
        out.append(
            DocumentView(
                k.value,
                effective_status(k, check.status if check else None, required),
                k in required,
                check.note if check else "",
                name,
                check.checked_at if check else None,
                check is not None,
            )
        )
    return out


@dataclass
class MessageView:
    from_family: bool
    author: str | None
    body: str
    document_kind: str | None
    created_at: datetime


def messages_of(application_id: int) -> list[MessageView]:
    return [
        MessageView(m.from_family, name, m.body, m.document_kind, m.created_at)
        for m, name in db.session.execute(
            sa.select(CouncilMessage, User.full_name)
            .outerjoin(User, User.id == CouncilMessage.author_id)
            .where(CouncilMessage.application_id == application_id)
            .order_by(CouncilMessage.created_at, CouncilMessage.id)
        )
    ]


def _review(app_: Application) -> CouncilReview:
    review = db.session.get(CouncilReview, app_.id)
    if review is None:
        review = CouncilReview(application_id=app_.id, state=CouncilState.INCOMPLETE, family_replied=False)
        db.session.add(review)
    return review


def _refresh_state(app_: Application, review: CouncilReview) -> None:
    db.session.flush()
    statuses = dict(
        db.session.execute(
            sa.select(DocumentCheck.kind, DocumentCheck.status).where(DocumentCheck.application_id == app_.id)
        ).all()
    )
    review.state = review_state(statuses, required_kinds(app_.sibling_school_ids))
    review.updated_at = utcnow()


def update_documents(
    app_: Application, school: School, user: User, changes: dict[str, tuple[str, str]]
) -> dict:
    """Record the council's findings: kind -> (status, note). Returns {"changed": [...], "flagged": [...]}.

    Unchanged documents are left as they are (who checked them and when stay true). A problem
    needs a note; each new or changed problem note is sent to the family.
    """
    existing = {
        c.kind: c
        for c in db.session.scalars(sa.select(DocumentCheck).where(DocumentCheck.application_id == app_.id))
    }
    required = required_kinds(app_.sibling_school_ids)
    at = utcnow()
    changed, flagged = [], []
    cleaned = {}
    for kind, (status, note) in changes.items():  # refuse before writing anything
        if kind not in set(KINDS) or status not in set(D):
            raise CouncilError("invalid", kind)
        note = (note or "").strip()
        if status == D.PROBLEM and not note:
            raise CouncilError("note_required", kind)
        if len(note) > NOTE_MAX:
            raise CouncilError("note_too_long", kind)
        cleaned[kind] = (status, note)
    for kind, (status, note) in cleaned.items():
        check = existing.get(kind)
        before = (check.status, check.note) if check else (effective_status(kind, None, required), "")
        if (status, note) == before:
            continue
        if check is None:
            check = DocumentCheck(application_id=app_.id, kind=kind)
            db.session.add(check)
        check.status, check.note = status, note
        check.school_id, check.checked_by_id, check.checked_at = school.id, user.id, at
        changed.append(kind)
        if status == D.PROBLEM:
            flagged.append(kind)
            db.session.add(
                CouncilMessage(
                    application_id=app_.id,
                    document_kind=kind,
                    from_family=False,
                    author_id=user.id,
                    body=note,
                    created_at=at,
                )
            )
    review = _review(app_)
    if changed:
        review.family_replied = False
    _refresh_state(app_, review)
    if changed:
        audit(
            "admissions.council.documents",
            app_,
            school_id=school.id,
            statuses={k: changes[k][0] for k in changed},
        )
    if flagged:
        notify.council_notice(app_.child, "flag", flagged)
    return {"changed": changed, "flagged": flagged}


def council_message(app_: Application, school: School, user: User, body: str) -> CouncilMessage:
    body = _check_body(body)
    msg = CouncilMessage(application_id=app_.id, from_family=False, author_id=user.id, body=body)
    db.session.add(msg)
    review = _review(app_)
    review.family_replied = False
    _refresh_state(app_, review)
    audit("admissions.council.message", app_, school_id=school.id)
    notify.council_notice(app_.child, "message", [])
    return msg


def family_reply(app_: Application, user: User, body: str) -> CouncilMessage:
    """A guardian answers the council (only once the council has written: a flag or a message)."""
    body = _check_body(body)
    if not db.session.scalar(
        sa.select(
            sa.exists().where(CouncilMessage.application_id == app_.id, CouncilMessage.from_family.is_(False))
        )
    ):
        raise CouncilError("nothing_to_answer", "body")
    msg = CouncilMessage(application_id=app_.id, from_family=True, author_id=user.id, body=body)
    db.session.add(msg)
    review = _review(app_)
    review.family_replied = True
    _refresh_state(app_, review)
    audit("admissions.council.reply", app_, actor_id=user.id)
    return msg


def _check_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise CouncilError("empty", "body")
    if len(body) > MESSAGE_MAX:
        raise CouncilError("too_long", "body")
    return body


# ---- what the family sees ------------------------------------------------------------------------------


@dataclass
class FamilyView:
    application_id: int
    documents: list[DocumentView]
    messages: list[MessageView]

    @property
    def problems(self) -> list[DocumentView]:
        return [d for d in self.documents if d.status == D.PROBLEM]

    @property
    def can_reply(self) -> bool:
        return any(not m.from_family for m in self.messages)


def family_views(user: User) -> dict[int, FamilyView]:
    """The council's findings on every application of `user`'s own children: two queries, whatever
    the number of children (parent pages call this once per request through council_flags)."""
    if user is None or not user.is_authenticated:
        return {}
    mine = sa.select(ParentChild.child_id).where(ParentChild.user_id == user.id)
    docs: dict[int, list[DocumentView]] = defaultdict(list)
    for check, siblings in db.session.execute(
        sa.select(DocumentCheck, Application.sibling_school_ids)
        .join(Application, Application.id == DocumentCheck.application_id)
        .where(Application.child_id.in_(mine))
        .order_by(DocumentCheck.application_id, DocumentCheck.id)
    ):
        required = required_kinds(siblings)
        docs[check.application_id].append(
            DocumentView(
                check.kind, check.status, check.kind in required, check.note, None, check.checked_at, True
            )
        )
    messages: dict[int, list[MessageView]] = defaultdict(list)
    for m, name in db.session.execute(
        sa.select(CouncilMessage, User.full_name)
        .outerjoin(User, User.id == CouncilMessage.author_id)
        .join(Application, Application.id == CouncilMessage.application_id)
        .where(Application.child_id.in_(mine))
        .order_by(CouncilMessage.created_at, CouncilMessage.id)
    ):
        # The family sees its own names, never the staff member's: "the school's council".
        messages[m.application_id].append(
            MessageView(m.from_family, name if m.from_family else None, m.body, m.document_kind, m.created_at)
        )
    order = {k.value: i for i, k in enumerate(KINDS)}
    return {
        aid: FamilyView(
            aid, sorted(docs.get(aid, []), key=lambda d: order.get(d.kind, 9)), messages.get(aid, [])
        )
        for aid in set(docs) | set(messages)
    }

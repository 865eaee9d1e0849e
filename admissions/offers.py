"""Results for families: offers as the family sees them, answers, expiry, and the notices about them.

An offer past its answer-by time is expired for the family at once (shown_status: shown so and
refused when confirmed); `expire_offers` records it (the CLI, or a later round before it runs).
No page that only reads writes anything here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import School, User

from . import counters, notify
from .allocation import priority_class
from .applications import PLACED, VALUES_CHUNK, in_district, lock_row
from .models import (
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Child,
    RoundKind,
    RoundStatus,
)
from .rules import RoundError
from .seasons import now

S = ApplicationStatus
NOTIFY_CHUNK = 500


def shown_status(app_: Application, at: datetime) -> str:
    """The status as the family sees it at `at`: an offer past its answer-by time is expired."""
    if app_.status == S.OFFERED and app_.offer_deadline is not None and app_.offer_deadline <= at:
        return S.EXPIRED
    return app_.status


@dataclass
class OfferView:
    """What a family is told about one application's result (texts in notify.py)."""

    application: Application
    status: str  # as the family sees it (shown_status)
    child_name: str
    school_name: str | None
    choices: list[tuple[int, str, str]]  # (school id, name, code) in rank order
    my_classes: dict[str, int]  # school code -> her priority class there
    lottery: int | None
    cutoffs: dict[str, list | None]  # school code -> [class, lottery] of the last admitted
    round_number: int | None
    seed_sha256: str | None

    @property
    def deadline(self) -> datetime | None:
        return self.application.offer_deadline

    @property
    def can_confirm(self) -> bool:
        return self.status == S.OFFERED

    @property
    def can_decline(self) -> bool:
        return self.status in PLACED

    def title(self, event: str) -> str:
        return notify.result_title(self, event)

    def lines(self) -> list[str]:
        return notify.result_lines(self)


def offer_views(apps: list[Application]) -> dict[int, OfferView]:
    """Explanations for many applications in a bounded number of queries."""
    if not apps:
        return {}
    at = now()
    ids = [a.id for a in apps]
    # What the page loaded already (choices, their schools, children) is not selected again.
    choices: dict[int, list[int]] = defaultdict(list)
    known: dict[int, tuple[str, str]] = {}  # school id → (name, code), from loaded schools
    to_select = []
    for a in apps:
        if "choices" in sa.inspect(a).unloaded:
            to_select.append(a.id)
            continue
        for c in a.choices:  # ordered by rank
            choices[a.id].append(c.school_id)
            if "school" not in sa.inspect(c).unloaded and c.school is not None:
                known[c.school_id] = (c.school.name, c.school.code)
    for aid, sid in (
        db.session.execute(
            sa.select(ApplicationChoice.application_id, ApplicationChoice.school_id)
            .where(ApplicationChoice.application_id.in_(to_select))
            .order_by(ApplicationChoice.application_id, ApplicationChoice.rank)
        )
        if to_select
        else ()
    ):
        choices[aid].append(sid)
    # The round whose figures explain the result: the one that placed her, else her latest published round.
    outcome_rows = db.session.execute(
        sa.select(
            AllocationOutcome.application_id,
            AllocationOutcome.round_id,
            AllocationOutcome.lottery,
            AllocationRound.number,
        )
        .join(AllocationRound, AllocationRound.id == AllocationOutcome.round_id)
        .where(
            AllocationOutcome.application_id.in_(ids),
            AllocationRound.status == RoundStatus.PUBLISHED,
            AllocationRound.kind == RoundKind.OFFICIAL,
        )
    ).all()
    latest: dict[int, tuple[int, int]] = {}  # application -> (round id, round number)
    lot: dict[int, int] = {}
    for aid, rid, lottery_no, number in outcome_rows:
        lot.setdefault(aid, lottery_no)  # the same number in every round of the season
        if aid not in latest or number > latest[aid][1]:
            latest[aid] = (rid, number)
    explain_round = {}
    for a in apps:
        rid = a.placed_by_round_id if a.placed_by_round_id and a.status != S.UNPLACED else None
        explain_round[a.id] = rid or (latest[a.id][0] if a.id in latest else None)
    round_ids = {r for r in explain_round.values() if r}
    rounds = (
        {
            r.id: r
            for r in db.session.scalars(sa.select(AllocationRound).where(AllocationRound.id.in_(round_ids)))
        }
        if round_ids
        else {}
    )
    for a in apps:
        school = None if "allocated_school" in sa.inspect(a).unloaded else a.allocated_school
        if school is not None:
            known[school.id] = (school.name, school.code)
    school_ids = {s for lst in choices.values() for s in lst} | {
        a.allocated_school_id for a in apps if a.allocated_school_id
    }
    schools = {sid: known[sid] for sid in school_ids if sid in known}
    missing = school_ids - schools.keys()
    if missing:
        schools.update(
            (sid, (name, code))
            for sid, name, code in db.session.execute(
                sa.select(School.id, School.name, School.code).where(School.id.in_(missing))
            )
        )
    names = {}
    for cid in {a.child_id for a in apps}:
        kid = db.session.identity_map.get(identity_key(Child, cid))
        if kid is not None and "full_name" not in sa.inspect(kid).unloaded:
            names[cid] = kid.full_name
    unnamed = {a.child_id for a in apps} - names.keys()
    if unnamed:
        names.update(
            db.session.execute(sa.select(Child.id, Child.full_name).where(Child.id.in_(unnamed))).all()
        )
    out = {}
    for a in apps:
        listed = [(sid, *schools.get(sid, ("?", "?"))) for sid in choices.get(a.id, [])]
        catchment_code = (
            schools.get(a.catchment_school_id, (None, None))[1] if a.catchment_school_id else None
        )
        sibling_codes = {schools[s][1] for s in (a.sibling_school_ids or []) if s in schools}
        student = {"catchment": catchment_code, "sibling_schools": sibling_codes}
        my_classes = {code: priority_class(student, code) for _sid, _n, code in listed}
        rnd = rounds.get(explain_round[a.id])
        out[a.id] = OfferView(
            a,
            shown_status(a, at),
            names.get(a.child_id, ""),
            schools.get(a.allocated_school_id, (None,))[0],
            listed,
            my_classes,
            lot.get(a.id),
            {c: v.get("cutoff") for c, v in (rnd.summary.get("schools", {}) if rnd else {}).items()},
            rnd.number if rnd else None,
            rnd.seed_sha256 if rnd else None,
        )
    return out


def expire_offers(
    level_id: int | None = None,
    district_id: int | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Record the expiry of the offers past their answer-by time (the seats are freed); the
    families are told. `flask --app app admissions expire-offers` runs it for the whole city; a
    later round runs it for its level and district first. Pages only *show* such an offer as
    expired (shown_status): no page writes it.

    Bulk (one SELECT, one UPDATE per chunk); audited as one entry per call. Returns how many expired.
    """
    at = at or now()
    q = sa.select(Application.id).where(
        Application.status == S.OFFERED,
        Application.offer_deadline.is_not(None),
        Application.offer_deadline <= at,
    )
    if level_id is not None:
        q = q.where(Application.admission_level_id == level_id)
    if district_id is not None:
        q = q.where(in_district(district_id))
    ids = list(db.session.scalars(q))
    if not ids:
        return 0
    for start in range(0, len(ids), VALUES_CHUNK):
        part = ids[start : start + VALUES_CHUNK]
        db.session.execute(
            sa.update(Application.__table__)
            .where(Application.__table__.c.id.in_(part), Application.__table__.c.status == S.OFFERED)
            .values(status=S.EXPIRED, expired_at=at)
        )
    for lv in {level_id} if level_id is not None else set(counters.level_ids()):
        counters.recompute_for_season(lv, district_id, statuses_only=True)
    db.session.expire_all()
    audit(
        "admissions.offers.expire",
        ("admission_level", level_id) if level_id else None,
        expired=len(ids),
        district_id=district_id,
    )
    notify_later("expired", None, ids)
    return len(ids)


def respond_to_offer(app_: Application, user: User, accept: bool) -> Application:
    """A parent confirms (before the deadline) or declines (frees the seat). Audited; both parents told."""
    lock_row(app_)  # both parents answering at once: one answer wins
    at = now()
    status = shown_status(app_, at)  # past the answer-by time: refused, whether recorded yet or not
    before = counters.snapshot(app_)
    if accept:
        if status == S.CONFIRMED:
            return app_  # idempotent (double click)
        if status == S.EXPIRED:
            raise RoundError("expired")
        if status != S.OFFERED:
            raise RoundError("no_offer")
        app_.status = S.CONFIRMED
        app_.confirmed_at = at
        event = "confirmed"
    else:
        if status == S.DECLINED:
            return app_
        if status not in PLACED:
            raise RoundError("expired" if status == S.EXPIRED else "no_offer")
        app_.status = S.DECLINED
        app_.declined_at = at
        event = "declined"
    app_.updated_at = at
    db.session.flush()
    audit(f"application.{event}", app_, actor_id=user.id, school_id=app_.allocated_school_id)
    notify_later(event, None, [app_.id])
    counters.applied(app_, before)
    return app_


# ---- notices ----------------------------------------------------------------------------------


def notify_later(event: str, round_id: int | None, application_ids: list[int]) -> None:
    """Tell the families once the current transaction commits (jobs of NOTIFY_CHUNK applications)."""
    ids = sorted(set(application_ids))
    if ids:
        jobs.enqueue_many_after_commit(
            notify_families,
            [[event, round_id, ids[i : i + NOTIFY_CHUNK]] for i in range(0, len(ids), NOTIFY_CHUNK)],
        )


def notify_families(event: str, round_id: int | None, application_ids: list[int]) -> int:
    """Job: the notices of `event` about these applications, one per child and language
    (notify.send_results). Returns how many notifications were made."""
    apps = db.session.scalars(sa.select(Application).where(Application.id.in_(application_ids))).all()
    if event == "result":
        # A child the round left without a seat whom the office has placed since (at publication,
        # the nearest school with seats) is told once, by the office's offer ("assigned").
        apps = [a for a in apps if a.assigned_by_id is None]
    if not apps:
        return 0
    views = offer_views(apps)
    return notify.send_results(event, [views[a.id] for a in apps])

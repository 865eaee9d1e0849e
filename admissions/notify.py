"""What the admissions area tells families and staff: labels, result texts, notices.

Texts are English msgids translated in each reader's language; notices go through
app.notifications, whose outbox hands them to the channels after the transaction that made them
commits: the council's in the request that records the finding, a round's results in the job
that gathers the applications (offers.notify_families). This module only writes and sends.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_datetime, gettext
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.links import public_url_for
from app.models import User
from app.notifications import notify, notify_many

from .allocation import CATCHMENT, OTHER, SIBLING
from .models import ApplicationStatus, CouncilState, DocumentKind, DocumentStatus, ParentChild

S = ApplicationStatus

# ---- labels -----------------------------------------------------------------------------------

CLASS_LABELS = {
    CATCHMENT: _l("lives in the school's catchment"),
    SIBLING: _l("has a brother or sister there"),
    OTHER: _l("other applicants"),
}
ORDINALS = {1: _l("1st choice"), 2: _l("2nd choice"), 3: _l("3rd choice"), 4: _l("4th choice")}


def ordinal(n: int) -> str:
    return str(ORDINALS[n]) if n in ORDINALS else gettext("choice no. %(n)d", n=n)


def status_labels() -> dict[str, str]:
    """An application's status as families and staff read it."""
    return {
        S.SUBMITTED: gettext("Submitted"),
        S.WITHDRAWN: gettext("Withdrawn"),
        S.ALLOCATED: gettext("Being allocated"),
        S.OFFERED: gettext("Offered a place"),
        S.CONFIRMED: gettext("Place confirmed"),
        S.DECLINED: gettext("Place declined"),
        S.EXPIRED: gettext("Offer expired"),
        S.UNPLACED: gettext("Waiting for a place"),
    }


class StatusLabels(dict):
    """`status_labels()` translated on the first lookup: a family's page shows one status or
    none, and translating the eight was a tenth of a millisecond on each."""

    def __missing__(self, key):
        if self:
            raise KeyError(key)
        self.update(status_labels())
        return self[key]


def kind_labels() -> dict[str, str]:
    """The documents the school's admission council checks."""
    return {
        DocumentKind.BIRTH_CERTIFICATE: _l("Birth certificate"),
        DocumentKind.RESIDENCE_PROOF: _l("Proof of residence"),
        DocumentKind.PRIORITY_PROOF: _l("Proof of priority"),
    }


def document_status_labels() -> dict[str, str]:
    return {
        DocumentStatus.PENDING: _l("Not checked yet"),
        DocumentStatus.CHECKED: _l("Checked"),
        DocumentStatus.PROBLEM: _l("Problem"),
        DocumentStatus.NOT_NEEDED: _l("Not needed"),
    }


def council_state_labels() -> dict[str, str]:
    return {
        CouncilState.INCOMPLETE: _l("To check"),
        CouncilState.PROBLEM: _l("Problem flagged"),
        CouncilState.COMPLETE: _l("Complete"),
    }


# ---- results: what a family is told about one application ------------------------------------
# `view` is an offers.OfferView: the application, its status as the family sees it, the child's
# name, the school, the ranked choices, her priority classes, her lottery number, the cutoffs.


def result_title(view, event: str) -> str:
    """The notification title of an event about one application's result."""
    if event == "expired":
        return gettext(
            "Offer expired: the place at %(school)s was not confirmed in time", school=view.school_name
        )
    if event == "confirmed":
        return gettext("Place confirmed at %(school)s", school=view.school_name)
    if event == "declined":
        return gettext("Place declined at %(school)s", school=view.school_name)
    if event == "assigned":
        return gettext("The education office has found a place at %(school)s", school=view.school_name)
    if view.status == S.UNPLACED:
        return gettext("Admission result: no seat yet at the schools you listed")
    if view.status == S.CONFIRMED:
        return gettext("Moved up to %(school)s (place confirmed)", school=view.school_name)
    return gettext("Admission result: a place is offered at %(school)s", school=view.school_name)


def _full_line(view, k: int, name: str, code: str) -> str:
    cutoff = view.cutoffs.get(code)
    mine = view.my_classes.get(code, OTHER)
    if cutoff:
        return gettext(
            "Your %(choice)s, %(school)s, was full: it admitted children down to priority "
            "“%(cls)s”, lottery number %(lot)d; your priority there was “%(mine)s”, lottery "
            "number %(my_lot)d.",
            choice=ordinal(k),
            school=name,
            cls=CLASS_LABELS[cutoff[0]],
            lot=cutoff[1],
            mine=CLASS_LABELS[mine],
            my_lot=view.lottery or 0,
        )
    return gettext("Your %(choice)s, %(school)s, had no seat left for you.", choice=ordinal(k), school=name)


def _without_place_next_step(view) -> str:
    return gettext(
        "Next step: %(name)s stays on the education office's list of children without a place. If "
        "you still need a public school place, contact the office: it can offer only a school that "
        "still has seats, which may not be one you listed.",
        name=view.child_name,
    )


def result_lines(view) -> list[str]:
    """The why of one application's result, in plain words, derived from the round's cutoffs."""
    app_ = view.application
    out = []
    if view.status in (S.SUBMITTED, S.ALLOCATED, S.WITHDRAWN):
        return out
    school = app_.allocated_school_id
    rank = app_.allocated_rank
    if view.status in (S.OFFERED, S.CONFIRMED):
        if app_.assigned_by_id is not None or rank is None:
            out.append(
                gettext(
                    "The education office assigned this school: the schools you listed had no "
                    "seat left for %(name)s.",
                    name=view.child_name,
                )
            )
            above = view.choices
        else:
            is_catchment = (
                view.choices
                and rank == len(view.choices)
                and view.my_classes.get(view.choices[rank - 1][2]) == CATCHMENT
            )
            if rank == 1:
                out.append(gettext("Admitted at your 1st choice, %(school)s.", school=view.school_name))
            elif is_catchment:
                out.append(
                    gettext(
                        "Admitted at your catchment school, %(school)s, where a place is "
                        "guaranteed (your %(choice)s).",
                        school=view.school_name,
                        choice=ordinal(rank),
                    )
                )
            else:
                out.append(
                    gettext(
                        "Admitted at your %(choice)s, %(school)s.",
                        choice=ordinal(rank),
                        school=view.school_name,
                    )
                )
            above = view.choices[: rank - 1]
        out += [
            _full_line(view, k, name, code)
            for k, (sid, name, code) in enumerate(above, start=1)
            if sid != school
        ]
        if view.status == S.OFFERED and view.deadline:
            out.append(
                gettext(
                    "Confirm or decline by %(when)s (Vietnam time); an offer not confirmed by then "
                    "expires and the seat goes to another child.",
                    when=format_datetime(view.deadline, "HH:mm dd/MM/yyyy"),
                )
            )
    elif view.status == S.UNPLACED:
        out.append(gettext("No seat yet for %(name)s at the schools you listed.", name=view.child_name))
        out += [_full_line(view, k, name, code) for k, (_sid, name, code) in enumerate(view.choices, start=1)]
        out.append(
            gettext(
                "%(name)s is on the education office's list of children without a place. Next step: "
                "the office offers the nearest school that still has seats (it may be in a "
                "neighbouring district); you will be notified and can then confirm or decline.",
                name=view.child_name,
            )
        )
    elif view.status == S.DECLINED:
        out.append(
            gettext(
                "You declined the place at %(school)s: %(name)s has no school place now, at the "
                "catchment school or elsewhere.",
                school=view.school_name or "",
                name=view.child_name,
            )
        )
        out.append(_without_place_next_step(view))
    elif view.status == S.EXPIRED:
        out.append(
            gettext(
                "The offer was not confirmed by the deadline, so the seat has been given to another "
                "child: %(name)s has no school place now.",
                name=view.child_name,
            )
        )
        out.append(_without_place_next_step(view))
    if view.lottery and view.status != S.DECLINED:
        out.append(
            gettext(
                "Lottery number of %(name)s for the season: %(n)d (lower wins ties between children "
                "of the same priority).",
                name=view.child_name,
                n=view.lottery,
            )
        )
    return out


# ---- sending ----------------------------------------------------------------------------------


def child_url(child_id: int) -> str:
    """The child's page, where the family reads the result and answers."""
    return public_url_for("admissions_parent.child", child_id=child_id)  # never the request's Host


def _guardians(child_ids) -> dict[int, dict[str, list[int]]]:
    """Child id -> language -> the ids of her active guardians who read it."""
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "vi")
    out: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for child_id, uid, locale in db.session.execute(
        sa.select(ParentChild.child_id, User.id, User.locale)
        .join(User, User.id == ParentChild.user_id)
        .where(ParentChild.child_id.in_(set(child_ids)), User.active.is_(True))
    ):
        out[child_id][locale or default].append(uid)
    return out


def send_results(event: str, views: list) -> int:
    """One notification per child and language to the child's guardians (every text names the
    child). Events: result (a round's offer, move or no seat), assigned, expired, confirmed,
    declined. Returns how many notifications were made."""
    guardians = _guardians(v.application.child_id for v in views)
    messages = []
    for view in views:
        child_id = view.application.child_id
        for locale, users in guardians.get(child_id, {}).items():
            with force_locale(locale):
                title = result_title(view, event)
                body = "\n".join(result_lines(view))
            messages.append(
                (
                    users,
                    {"title": title, "body": body, "child_name": view.child_name, "url": child_url(child_id)},
                )
            )
    return len(notify_many("admission", messages))


def council_notice(child, event: str, kinds: list[str]) -> None:
    """The school's admission council flagged documents (event "flag") or wrote (event "message"):
    tell the child's guardians, in each one's language."""
    link = child_url(child.id)
    for locale, users in _guardians([child.id]).get(child.id, {}).items():
        with force_locale(locale):
            if event == "flag":
                labels = kind_labels()
                title = gettext(
                    "The school's admission council found a problem with a document of %(name)s",
                    name=child.full_name,
                )
                body = gettext(
                    "Documents: %(kinds)s. Open the child's page to read the council's note and answer.",
                    kinds=", ".join(str(labels[k]) for k in kinds),
                )
            else:
                title = gettext(
                    "A message from the school's admission council about %(name)s", name=child.full_name
                )
                body = gettext("Open the child's page to read it and answer.")
        notify("admission", users, {"title": title, "body": body, "child_name": child.full_name, "url": link})


# ---- the audit page: the area's actions in words ----------------------------------------------


def audit_wording() -> dict:
    """Words for app.audit.describe (lazy strings; registered by register(app))."""
    return {
        "actions": {
            "admissions.round.create": _l("Created an allocation round"),
            "admissions.round.queue": _l("Started an allocation round"),
            "admissions.round.done": _l("An allocation round finished"),
            "admissions.round.failed": _l("An allocation round failed"),
            "admissions.round.publish": _l("Published the results of a round"),
            "admissions.round.what_if": _l("Ran a what-if round"),
            "admissions.round.compare": _l("Compared a what-if round"),
            "admissions.round.download": _l("Downloaded a round's file"),
            "admissions.round.list_view": _l("Viewed a round's list of children"),
            "admissions.season.create": _l("Created an admissions season"),
            "admissions.season.schedule": _l("Changed the season calendar"),
            "admissions.season.wipe_trial": _l("Wiped the trial data"),
            "admissions.level.choice_limit": _l("Changed how many schools families may rank"),
            "admissions.placement.assign": _l("Gave a child without a seat a place"),
            "admissions.placement.offer_nearest": _l(
                "Offered the nearest school to catchment children without a seat"
            ),
            "admissions.placement.view": _l("Viewed the children without a seat"),
            "admissions.offers.expire": _l("Recorded expired offers"),
            "admissions.codes.generate": _l("Generated admission codes"),
            "admissions.codes.export": _l("Exported admission codes"),
            "admissions.eligible.view": _l("Viewed the eligible children"),
            "admissions.admitted.export": _l("Exported the admitted children"),
            "admissions.summary.export": _l("Exported the admissions summary"),
            "admissions.council.view": _l("Viewed an application (admission council)"),
            "admissions.council.documents": _l("Checked an application's documents"),
            "admissions.council.message": _l("The council wrote to a family"),
            "admissions.council.reply": _l("A family answered the council"),
            "admissions.council.queue.view": _l("Viewed the council's queue"),
            "application.submit": _l("Submitted an application"),
            "application.edit": _l("Changed an application"),
            "application.resubmit": _l("Submitted an application again"),
            "application.withdraw": _l("Withdrew an application"),
            "application.confirmed": _l("Confirmed a place"),
            "application.declined": _l("Declined a place"),
            "child.add": _l("Added a child to an account"),
            "child.add_failed": _l("Failed to add a child (wrong details)"),
        },
        "targets": {
            "application": _l("Application"),
            "allocation_round": _l("Allocation round"),
            "admission_season": _l("Admissions season"),
            "admission_level": _l("Admission level"),
            "admission_code": _l("Admission code"),
            "child": _l("Child"),
        },
        "fields": {
            "school_id": _l("School"),
            "level_id": _l("Level"),
            "district_id": _l("District"),
            "status": _l("Status"),
            "opens_at": _l("opens"),
            "closes_at": _l("closes"),
            "confirm_by": _l("confirm by"),
            "state": _l("state"),
            "phase": _l("Phase"),
            "offered": _l("Offers"),
            "moved": _l("Moved up"),
            "unplaced": _l("Without a seat"),
            "expired": _l("Expired"),
            "rows": _l("Rows"),
            "page": _l("Page"),
            "automatic": _l("Automatic"),
            "choices": _l("Choices"),
        },
        "values": {
            "status": status_labels_lazy(),
            "level": {
                "kindergarten": _l("Kindergarten (age 5)"),
                "grade1": _l("Grade 1"),
                "grade6": _l("Grade 6"),
            },
            "state": {
                "draft": _l("Draft (parents cannot apply yet)"),
                "scheduled": _l("Published (parents apply inside the window)"),
                "allocating": _l("Allocation running"),
                "allocated": _l("Allocated"),
                "published": _l("Results published"),
                "closed": _l("Closed"),
            },
        },
    }


def status_labels_lazy() -> dict:
    return {
        S.SUBMITTED: _l("Submitted"),
        S.WITHDRAWN: _l("Withdrawn"),
        S.ALLOCATED: _l("Being allocated"),
        S.OFFERED: _l("Offered a place"),
        S.CONFIRMED: _l("Place confirmed"),
        S.DECLINED: _l("Place declined"),
        S.EXPIRED: _l("Offer expired"),
        S.UNPLACED: _l("Waiting for a place"),
    }

"""What the office's round pages say: the rounds' statuses and the refusals of admissions.rounds
(RoundError codes) in words an officer reads."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..models import RoundStatus


def round_status_labels() -> dict[str, str]:
    return {
        RoundStatus.DRAFT: _l("Seed drawn, not run yet"),
        RoundStatus.QUEUED: _l("Waiting to start"),
        RoundStatus.RUNNING: _l("Running"),
        RoundStatus.DONE: _l("Done (not published)"),
        RoundStatus.FAILED: _l("Failed"),
        RoundStatus.PUBLISHED: _l("Published"),
    }


def round_messages() -> dict[str, str]:
    return {
        "previous_not_published": _("Publish the previous round first."),
        "running": _("This round is already running."),
        "published": _("This round has been published; it cannot run again."),
        "window_not_closed": _(
            "The registration window has not closed yet: run the first round after it closes "
            "(a what-if run is possible any time)."
        ),
        "what_if_base": _("What-if runs compare against an official round that is not published yet."),
        "unknown_school": _("Choose a school of this level in the district."),
        "bad_capacity": _("Capacities are whole numbers, 0 or more."),
        "what_if_publish": _("A what-if run is never published."),
        "not_done": _("Only a finished round can be published."),
        "confirm_by": _("Set an answer-by time in the future for the families."),
        "stale": _(
            "Applications changed since this round ran (declines, expiries or assignments). Run it again, "
            "then publish."
        ),
        "guarantee": _("A child would lose the seat she holds: the round was not stored. Check capacities."),
        "not_unplaced": _("This child is not waiting for a seat any more."),
        "school_full": _("This school has no seat left. Choose another school."),
        "school_claimed": _(
            "Children waiting for this school have a claim to its free seats: run a later round "
            "to give them out, or choose another school."
        ),
        "internal": _("The round stopped because of an error on our side. Run it again."),
        "beacon_wait": _(
            "Waiting for the public randomness beacon: its round fixed in advance has not been "
            "received yet (not emitted yet, or the beacon cannot be reached). Try again in a few "
            "minutes, or type its value and where you read it."
        ),
        "reason_required": _(
            "This round already ran on these entries. Running it again is published: give the reason."
        ),
        "entries_changed": _(
            "The entries or the seats changed since this round ran; a new version of the entry list "
            "will be published. Run the round again, then publish."
        ),
        "beacon_set": _("The beacon value is already recorded; it cannot be changed."),
        "not_frozen": _("The entry list is frozen when registration closes; the beacon round is fixed then."),
        "beacon_not_due": _("The beacon round has not been emitted yet."),
        "beacon_value": _("Type the randomness in hexadecimal (32 to 128 characters) and where you read it."),
    }


def round_error_text(code: str | None) -> str:
    if not code:
        return ""
    return round_messages().get(code, code)

"""Public admissions figures: no login, no personal data.

`/tuyen-sinh/` lists the current season's levels and windows; a level's page gives each district's
registrations against its seats; a district's page gives, per school, the registrations (1st
choice and catchment), the seats, the children admitted once results are published, the cutoff of
the latest published round, and every official round's seed commitment (SHA-256) with the seed
itself once the round is published — so anyone can check the lottery.

Only counts, school names, cutoffs ([priority class, lottery number]) and seeds are shown: never a
child's name, personal ID, reference or a family's phone. Trial applications are not counted;
results count only once published (offered or confirmed). The figures are cached briefly
(dashboard.public_level / public_district); the page says how fresh they are.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, render_template, request

from app.authz import public

from .. import dashboard, notify, rules, seasons, transcript
from ..access import public_district_or_404, public_level_or_404
from ..allocation.verification import FREEZE_FORMAT, SEED_METHOD
from ..forms import level_labels
from ..models import LevelState

bp = Blueprint("admissions_public", __name__, url_prefix="/tuyen-sinh")


def _ttl():
    return current_app.config.get("ADMISSIONS_PUBLIC_CACHE_SECONDS", 60)


@bp.route("/")
@public
def index():
    season = seasons.current_season()
    levels = [lv for lv in season.levels if lv.state != LevelState.DRAFT] if season else []
    levels.sort(key=lambda lv: rules.LEVELS.index(lv.level))
    return render_template(
        "admissions/public_index.html",
        season=season,
        levels=levels,
        labels=level_labels(),
        window_of=seasons.level_window,
        now=seasons.now(),
    )


@bp.route("/levels/<int:level_id>")
@public
def level(level_id: int):
    lv = public_level_or_404(level_id)
    figures = dashboard.public_level(lv, seasons.now())
    bars, height, top = rules.capacity_bars([(r.name, r.applications, r.capacity) for r in figures.rows])
    return render_template(
        "admissions/public_level.html",
        level=lv,
        rows=figures.rows,
        totals=figures.totals,
        as_of=figures.as_of,
        bars=bars,
        chart_height=height,
        chart_top=top,
        labels=level_labels(),
        window=seasons.level_window(lv),
        ttl=_ttl(),
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>")
@public
def district(level_id: int, district_id: int):
    lv = public_level_or_404(level_id)
    district = public_district_or_404(district_id)
    figures = dashboard.public_district(lv, district.id, seasons.now())
    bars, height, top = rules.capacity_bars([(r.name, r.first_choice, r.capacity) for r in figures.rows])
    return render_template(
        "admissions/public_district.html",
        level=lv,
        district=district,
        rows=figures.rows,
        totals=figures.totals,
        rounds=figures.rounds,
        latest_number=figures.latest_number,
        cutoffs=figures.cutoffs,
        classes=notify.CLASS_LABELS,
        as_of=figures.as_of,
        bars=bars,
        chart_height=height,
        chart_top=top,
        labels=level_labels(),
        window=seasons.level_window(lv),
        ttl=_ttl(),
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>/record")
@public
def record(level_id: int, district_id: int):
    """The public record of a level's rounds in a district: the seed commitment, every version of
    the frozen entry list, the beacon, every attempt (docs/verification.md)."""
    lv = public_level_or_404(level_id)
    district = public_district_or_404(district_id)
    return render_template(
        "admissions/public_record.html",
        level=lv,
        district=district,
        record=transcript.ledger(lv, district.id),
        labels=level_labels(),
        freeze_format=FREEZE_FORMAT,
        seed_method=SEED_METHOD,
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>/entries.json")
@public
def entries(level_id: int, district_id: int):
    """One version of the anonymised entry list (entry codes, choices, catchment, siblings, seats)."""
    lv = public_level_or_404(level_id)
    district = public_district_or_404(district_id)
    row = transcript.version_of(lv, district.id, request.args.get("version", 1, type=int) or 0)
    if row is None:
        abort(404)
    body = {
        "format": FREEZE_FORMAT,
        "version": row.version,
        "frozen_at": row.created_at.isoformat() + "Z",
        "fingerprint": {"root": row.root, "schools": row.schools, "entries": row.entries, "seats": row.seats},
        **row.content,
    }
    resp = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="entries-{lv.id}-{district.id}-v{row.version}.json"'
    )
    return resp


@bp.route("/levels/<int:level_id>/districts/<int:district_id>/entries")
@public
def entry_lookup(level_id: int, district_id: int):
    """A family types its entry code: its line in the frozen list, and whether the proof holds."""
    lv = public_level_or_404(level_id)
    district = public_district_or_404(district_id)
    code = request.args.get("code", "")[:20]
    return render_template(
        "admissions/public_entry.html",
        level=lv,
        district=district,
        code=code,
        found=transcript.lookup(lv, district.id, code) if code else None,
        labels=level_labels(),
    )

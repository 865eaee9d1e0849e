"""Public admissions figures (issue 4, point 9): no login, no personal data.

`/tuyen-sinh/` lists the current season's levels and windows; a level's page gives each district's
registrations against its seats; a district's page gives, per school, the registrations (1st
choice and catchment), the seats, the children admitted once results are published, the cutoff of
the latest published round, and every official round's seed commitment (SHA-256) with the seed
itself once the round is published — so anyone can check the lottery.

Only counts, school names, cutoffs ([priority class, lottery number]) and seeds are shown: never a
child's name, personal ID, reference or a family's phone. Trial applications are not counted;
results count only once published (offered or confirmed).

The figures are cached in the process for ADMISSIONS_PUBLIC_CACHE_SECONDS (default 60 s): during
the first hours of a window thousands of families reload this page. The page says how fresh it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, render_template, url_for

from app.authz import public
from app.extensions import db
from app.models import District

from . import dashboard, notify, rules, seasons
from .models import AdmissionLevel, LevelState
from .season_forms import level_labels

bp = Blueprint("admissions_public", __name__, url_prefix="/tuyen-sinh")


def _store() -> dict:
    """The app's own cache (one per app object: tests and processes never share it)."""
    return current_app.extensions.setdefault("admissions_public_cache", {})


def clear_cache() -> None:
    _store().clear()


def _cached(key: tuple, compute):
    ttl = float(current_app.config.get("ADMISSIONS_PUBLIC_CACHE_SECONDS", 60))
    if ttl <= 0:
        return compute()
    store = _store()
    hit = store.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = compute()
    if len(store) > 2000:  # districts × levels of a city fit many times over
        store.clear()
    store[key] = (now, value)
    return value


@dataclass(frozen=True)
class PublicRound:
    """What the public may know of an official round."""

    id: int
    number: int
    status: str
    seed_sha256: str
    seed: str | None  # only once published
    published_at: object


def _public_round(rnd) -> PublicRound:
    published = rnd.status == "published"
    return PublicRound(
        rnd.id,
        rnd.number,
        rnd.status,
        rnd.seed_sha256,
        rnd.seed if published else None,
        rnd.published_at if published else None,
    )


def _level_or_404(level_id: int) -> AdmissionLevel:
    level = db.session.get(AdmissionLevel, level_id)
    # Draft levels are still being set up by the office: not public yet.
    if level is None or level.state == LevelState.DRAFT:
        abort(404)
    return level


def _rounds_endpoint() -> str | None:
    """The rounds slice's public page of a round, when installed."""
    name = "admissions_rounds_public.public_round"
    return name if name in current_app.view_functions else None


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
    lv = _level_or_404(level_id)

    def compute():
        rows = dashboard.district_rows(lv, official_only=True, placed_statuses=dashboard.PUBLISHED_PLACED)
        return rows, dashboard.totals(rows), seasons.now()

    rows, totals, as_of = _cached(("level", lv.id), compute)
    bars, height, top = dashboard.capacity_bars([(r.name, r.applications, r.capacity) for r in rows])
    return render_template(
        "admissions/public_level.html",
        level=lv,
        rows=rows,
        totals=totals,
        as_of=as_of,
        bars=bars,
        chart_height=height,
        chart_top=top,
        labels=level_labels(),
        window=seasons.level_window(lv),
        ttl=current_app.config.get("ADMISSIONS_PUBLIC_CACHE_SECONDS", 60),
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>")
@public
def district(level_id: int, district_id: int):
    lv = _level_or_404(level_id)
    district = db.session.get(District, district_id)
    if district is None:
        abort(404)

    def compute():
        rows = dashboard.school_rows(
            lv, district_id=district.id, official_only=True, placed_statuses=dashboard.PUBLISHED_PLACED
        )
        rounds = dashboard.official_rounds(lv, district.id)
        latest = dashboard.latest_published_rounds(lv, district.id, rounds).get(district.id)
        cutoffs = dashboard.round_cutoffs(latest)
        return (
            rows,
            dashboard.totals(rows),
            [_public_round(r) for r in rounds],
            latest.number if latest is not None else None,
            cutoffs,
            seasons.now(),
        )

    rows, totals, rounds, latest_number, cutoffs, as_of = _cached(("district", lv.id, district.id), compute)
    bars, height, top = dashboard.capacity_bars([(r.name, r.first_choice, r.capacity) for r in rows])
    endpoint = _rounds_endpoint()
    round_url = (lambda r: url_for(endpoint, round_id=r.id)) if endpoint else None
    return render_template(
        "admissions/public_district.html",
        level=lv,
        district=district,
        rows=rows,
        totals=totals,
        rounds=rounds,
        latest_number=latest_number,
        cutoffs=cutoffs,
        classes=notify.CLASS_LABELS,
        as_of=as_of,
        bars=bars,
        chart_height=height,
        chart_top=top,
        labels=level_labels(),
        window=seasons.level_window(lv),
        round_url=round_url,
        ttl=current_app.config.get("ADMISSIONS_PUBLIC_CACHE_SECONDS", 60),
    )

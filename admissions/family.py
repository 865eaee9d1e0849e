"""What a family's pages load about a child, with the current season, in one statement each.

The child's page, the application form, submitting and withdrawing each need the child (through
the parent's own guardianship link: another family's ids answer 404), the current season (its
levels, year and places' version) and, for the form, the child's application of that season.
Each was a statement of its own; here the season and the applications are joined to the child's
row (`seasons.current_season_id`, an uncorrelated subquery: the same season `current_season`
picks). Also the parent's children and their applications of every season, as the children's
list and the child's page show them. The statements are built once.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import User

from .models import AdmissionLevel, AdmissionSeason, Application, ApplicationChoice, Child, ParentChild
from .seasons import current_season_id


def _season_options() -> tuple:
    # what `current_season` loads with the season (its year and levels, in one statement)
    return (joinedload(AdmissionSeason.academic_year), joinedload(AdmissionSeason.levels))


def _child_options() -> tuple:
    # the address the pages show and the places are read for
    return (joinedload(Child.ward), joinedload(Child.residential_group))


class OwnChild(NamedTuple):
    child: Child
    season: AdmissionSeason | None  # the current season
    applications: list[Application]  # the child's, of that season


def own_child_with_season(user: User, child_id: int) -> OwnChild:
    """A child of `user` with the current season and her applications of that season (their
    choices loaded, as the form and submitting read them); 404 for any other id."""
    rows = db.session.execute(_own_child(), {"user_id": user.id, "child_id": child_id}).unique().all()
    if not rows:
        abort(404)
    child, season, _app = rows[0]
    return OwnChild(child, season, [r[2] for r in rows if r[2] is not None])


@functools.cache
def _own_child() -> sa.Select:
    season_id = current_season_id()
    in_season = sa.select(AdmissionLevel.id).where(AdmissionLevel.season_id == season_id)
    return (
        sa.select(Child, AdmissionSeason, Application)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .outerjoin(AdmissionSeason, AdmissionSeason.id == season_id)
        .outerjoin(
            Application,
            sa.and_(Application.child_id == Child.id, Application.admission_level_id.in_(in_season)),
        )
        .where(ParentChild.user_id == sa.bindparam("user_id"), Child.id == sa.bindparam("child_id"))
        .options(*_child_options(), *_season_options(), joinedload(Application.choices))
    )


class ChildPage(NamedTuple):
    children: list[Child]  # the parent's, youngest first (as `children_of`)
    season: AdmissionSeason | None  # the current season (None: none, or no child to load it with)
    applications: list[Application]  # the chosen child's, of every season, newest first


def child_page(user: User, child_id: int) -> ChildPage:
    """What a child's page shows, in one statement: the parent's children (the switcher), the
    current season, and the applications of the child `child_id` (as `applications_by_child`
    loads them: level, season, allocated school, choices and their schools). The caller picks
    the child among the children (`access.child_among_or_404`): no application of another
    family's child is loaded, the join asks for the parent's link."""
    rows = db.session.execute(_child_page(), {"user_id": user.id, "child_id": child_id}).unique().all()
    children = list(dict.fromkeys(r[0] for r in rows))
    return ChildPage(children, rows[0][1] if rows else None, [r[2] for r in rows if r[2] is not None])


@functools.cache
def _child_page() -> sa.Select:
    return (
        sa.select(Child, AdmissionSeason, Application)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .outerjoin(AdmissionSeason, AdmissionSeason.id == current_season_id())
        .outerjoin(
            Application,
            sa.and_(Application.child_id == Child.id, Child.id == sa.bindparam("child_id")),
        )
        .where(ParentChild.user_id == sa.bindparam("user_id"))
        .options(*_child_options(), *_season_options(), *_application_options())
        .order_by(Child.date_of_birth.desc(), Child.id, Application.submitted_at.desc())
    )


def children_of(user: User) -> list[Child]:
    return list(db.session.scalars(_children_statement(), {"user_id": user.id}))


@functools.cache
def _children_statement() -> sa.Select:
    """Built once (every child's page asks)."""
    return (
        sa.select(Child)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .where(ParentChild.user_id == sa.bindparam("user_id"))
        .options(joinedload(Child.ward), joinedload(Child.residential_group))
        .order_by(Child.date_of_birth.desc(), Child.id)
    )


def applications_by_child(child_ids: list[int]) -> dict[int, list[Application]]:
    """Every application of these children (newest season first), choices and schools loaded."""
    out: dict[int, list[Application]] = {cid: [] for cid in child_ids}
    if not child_ids:
        return out
    for app_ in db.session.scalars(_applications_statement(), {"child_ids": child_ids}).unique():
        out[app_.child_id].append(app_)
    return out


@functools.cache
def _applications_statement() -> sa.Select:
    """Built once (every child's page asks)."""
    return (
        sa.select(Application)
        .where(Application.child_id.in_(sa.bindparam("child_ids", expanding=True)))
        .options(*_application_options())
        .order_by(Application.submitted_at.desc())
    )


def _application_options() -> tuple:
    # what the child's page shows of an application and explains of its result
    return (
        joinedload(Application.admission_level)
        .joinedload(AdmissionLevel.season)
        .joinedload(AdmissionSeason.academic_year),
        joinedload(Application.allocated_school),
        joinedload(Application.choices).joinedload(ApplicationChoice.school),
    )

"""Authorization: who may reach a view (role) and which records they may see (scope).

Every view function declares its audience with exactly one of `@public` or `@roles_required`.
The route × role test (tests/integration/test_route_access.py) walks `app.url_map`, refuses any
endpoint without a declaration, and tries each route as every role and as anonymous.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from flask import abort, current_app
from flask_login import current_user

from .extensions import db
from .models import Role, School, User

ALL_ROLES = frozenset(Role)


def public(view: Callable) -> Callable:
    """Mark a view as reachable without logging in."""
    view.access_roles = None  # type: ignore[attr-defined]
    view.access_public = True  # type: ignore[attr-defined]
    return view


def roles_required(*roles: str | Iterable[str]) -> Callable[[Callable], Callable]:
    """Require a logged-in user with one of `roles`; anonymous users go to the login page."""
    allowed: set[str] = set()
    for r in roles:
        allowed.update([r] if isinstance(r, str) else r)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped.access_roles = frozenset(allowed)  # type: ignore[attr-defined]
        wrapped.access_public = False  # type: ignore[attr-defined]
        return wrapped

    return decorator


def login_required_any(view: Callable) -> Callable:
    """Any logged-in role."""
    return roles_required(ALL_ROLES)(view)


def can_manage_school(user: User, school: School) -> bool:
    """Staff of the school, officers of its district, and city admins."""
    if user.role == Role.CITY_ADMIN:
        return True
    if user.role == Role.DISTRICT_OFFICER:
        return user.district_id is not None and user.district_id == school.district_id
    if user.role in (Role.SCHOOL_STAFF, Role.TEACHER):
        return user.school_id is not None and user.school_id == school.id
    return False


def can_manage_district(user: User, district_id: int) -> bool:
    if user.role == Role.CITY_ADMIN:
        return True
    return user.role == Role.DISTRICT_OFFICER and user.district_id == district_id


def school_or_404(school_id: int) -> School:
    """Load a school the current user may manage; otherwise 404 (do not reveal it exists)."""
    school = db.session.get(School, school_id)
    if school is None or not can_manage_school(current_user, school):
        abort(404)
    return school


def scoped_schools_query(user: User):
    """A SELECT of the schools `user` may manage."""
    q = sa.select(School)
    if user.role == Role.CITY_ADMIN:
        return q
    if user.role == Role.DISTRICT_OFFICER:
        return q.where(School.district_id == user.district_id)
    if user.role in (Role.SCHOOL_STAFF, Role.TEACHER):
        return q.where(School.id == user.school_id)
    return q.where(sa.false())

"""Staff accounts over their life: who may see and manage whom, editing (name, email, phone,
role, school or district), deactivating and reactivating, and one-time activation codes.

Scope: the city administrator manages every staff account; a district officer the accounts of
the district's schools and the district's officers; a school's staff the teachers and staff of
their own school. Nobody gives a role above their own scope, nobody changes their own role,
school or district, deactivates themselves or issues themselves a code; an account outside the
scope is not found (the pages answer 404). Every change is audited with words an officer reads
(`audit_wording`): the fields changed (never their values, which are personal), a role, school or
district as before → after. Functions flush only; the caller's boundary commits."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..audit import audit, audit_time
from ..authz import can_manage_district, can_manage_school
from ..extensions import db
from ..models import District, Role, School, User
from ..security import normalize_phone
from . import activation
from .services import AccountError, end_all_sessions

MANAGERS = (Role.CITY_ADMIN, Role.DISTRICT_OFFICER, Role.SCHOOL_STAFF)


def role_labels() -> dict:
    return {
        Role.PARENT: _l("Parent"),
        Role.TEACHER: _l("Teacher"),
        Role.SCHOOL_STAFF: _l("School staff"),
        Role.DISTRICT_OFFICER: _l("District officer"),
        Role.CITY_ADMIN: _l("City administrator"),
    }


def creatable_roles(user: User) -> list[str]:
    """The roles `user` may give: nobody gives a role above their own scope."""
    if user.role == Role.CITY_ADMIN:
        return [Role.TEACHER, Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER, Role.CITY_ADMIN]
    if user.role == Role.DISTRICT_OFFICER:
        return [Role.TEACHER, Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER]
    if user.role == Role.SCHOOL_STAFF:
        return [Role.TEACHER, Role.SCHOOL_STAFF]
    return []


def visible_users_query(user: User) -> sa.Select:
    """The staff accounts `user` manages (a SELECT of User)."""
    q = sa.select(User).where(User.role.in_(creatable_roles(user)))
    if user.role == Role.CITY_ADMIN:
        return q
    if user.role == Role.DISTRICT_OFFICER:
        schools = sa.select(School.id).where(School.district_id == user.district_id)
        return q.where(sa.or_(User.district_id == user.district_id, User.school_id.in_(schools)))
    if user.role == Role.SCHOOL_STAFF and user.school_id is not None:
        return q.where(User.school_id == user.school_id)
    return q.where(sa.false())


def managed_user(actor: User, user_id: int) -> User | None:
    """The account if `actor` manages it, else None (the page answers 404)."""
    return db.session.scalar(visible_users_query(actor).where(User.id == user_id))


def place_for(actor: User, role: str, school_id: int | None, district_id: int | None):
    """(school_id, district_id) the role keeps, checked against the actor's scope."""
    if role not in creatable_roles(actor):
        raise AccountError("bad_role", "role")
    if role in (Role.TEACHER, Role.SCHOOL_STAFF):
        school = db.session.get(School, school_id) if school_id else None
        if school is None or not can_manage_school(actor, school):
            raise AccountError("need_school", "school_id")
        return school.id, None
    if role == Role.DISTRICT_OFFICER:
        if not district_id or not can_manage_district(actor, district_id):
            raise AccountError("need_district", "district_id")
        return None, district_id
    return None, None


def _taken(column, value, user_id: int) -> bool:
    return db.session.scalar(sa.select(User.id).where(column == value, User.id != user_id)) is not None


def _school_name(school_id: int | None) -> str | None:
    return db.session.scalar(sa.select(School.name).where(School.id == school_id)) if school_id else None


def _district_name(district_id: int | None) -> str | None:
    return (
        db.session.scalar(sa.select(District.name).where(District.id == district_id)) if district_id else None
    )


def update_staff(
    actor: User,
    target: User,
    *,
    full_name: str,
    email: str,
    phone: str | None,
    role: str,
    school_id: int | None,
    district_id: int | None,
) -> list[str]:
    """Save an administrator's edit of a staff account; the fields changed (audited)."""
    email_n = email.strip().lower()
    phone_n = normalize_phone(phone) if phone else None
    if phone and phone_n is None:
        raise AccountError("bad_phone", "phone")
    if target.id == actor.id:
        # Nobody changes their own role, school or district (nor raises themselves).
        if (role, school_id or None, district_id or None) != (
            target.role,
            target.school_id,
            target.district_id,
        ):
            raise AccountError("own_role", "role")
    else:
        school_id, district_id = place_for(actor, role, school_id, district_id)
    if email_n != (target.email or "") and _taken(sa.func.lower(User.email), email_n, target.id):
        raise AccountError("email_taken", "email")
    if phone_n and phone_n != target.phone and _taken(User.phone, phone_n, target.id):
        raise AccountError("phone_taken", "phone")
    changed = [
        name
        for name, before, after in (
            ("full_name", target.full_name, full_name.strip()),
            ("email", target.email or "", email_n),
            ("phone", target.phone or "", phone_n or ""),
        )
        if before != after
    ]
    details: dict = {"changed": changed} if changed else {}
    if role != target.role:
        details.update(before_role=target.role, role=role)
    if school_id != target.school_id:
        details.update(before_school=_school_name(target.school_id), school=_school_name(school_id))
    if district_id != target.district_id:
        details.update(
            before_district=_district_name(target.district_id), district=_district_name(district_id)
        )
    if not details:
        return []
    if "phone" in changed:
        target.phone_verified_at = None  # a number an administrator typed is not proven
    target.full_name, target.email, target.phone = full_name.strip(), email_n, phone_n
    target.role, target.school_id, target.district_id = role, school_id, district_id
    audit("user.update", target, **details)
    return changed + [k for k in ("role", "school", "district") if k in details]


def deactivate(actor: User, target: User) -> None:
    """The account can no longer log in, and every session it has ends now."""
    if target.id == actor.id:
        raise AccountError("self", None)
    target.active = False
    target.activation_code_hash = target.activation_expires_at = None  # a code handed out dies too
    end_all_sessions(target)
    audit("user.deactivate", target)


def reactivate(actor: User, target: User) -> None:
    if target.id == actor.id:
        raise AccountError("self", None)
    target.active = True
    audit("user.reactivate", target)


def issue_activation(actor: User, target: User) -> str:
    """A one-time activation code for the account: its password stops working, its sessions end,
    and its next login (with the code) opens only choosing a new password."""
    if target.id == actor.id or not target.active:
        raise AccountError("self" if target.id == actor.id else "inactive", None)
    code = activation.new_code(target)
    target.password_hash = None
    target.must_change_password = True
    end_all_sessions(target)
    audit("user.activation_code", target, expires=audit_time(target.activation_expires_at))
    return code


def audit_wording() -> dict:
    """The audit page's words for account changes (app.audit.register_wording)."""
    return {
        "actions": {
            "user.create": _l("An administrator created a staff account"),
            "user.update": _l("An administrator changed a staff account"),
            "user.deactivate": _l("An administrator deactivated an account"),
            "user.reactivate": _l("An administrator reactivated an account"),
            "user.activation_code": _l("An administrator issued an activation code"),
            "user.activated": _l("The person logged in with their activation code"),
            "user.login": _l("Logged in to their account"),
            "user.login_with_code": _l("Logged in with a code by SMS after failed attempts"),
            "user.password_change": _l("Changed their password"),
            "user.password_reset": _l("Chose a new password after forgetting it"),
            "user.session_ended": _l("Logged out one of their sessions"),
            "user.sessions_ended": _l("Logged out everywhere else"),
        },
        "targets": {"user": _l("Account")},
        "fields": {
            "changed": _l("Changed"),
            "role": _l("Role"),
            "school": _l("School"),
            "district": _l("District"),
            "expires": _l("Valid until"),
            "count": _l("Sessions ended"),
            "session_id": _l("Session"),
        },
        "values": {
            "changed": {"full_name": _l("Full name"), "email": _l("Email"), "phone": _l("Phone number")},
            "role": role_labels(),
        },
    }

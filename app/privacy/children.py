"""A parent's children as the areas know them, for the child's own consent (from age 7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app


@dataclass(frozen=True)
class Child:
    subject: str  # "<area>:<id>", stable
    name: str
    date_of_birth: date | None
    purpose: str  # what the child's consent is about (e.g. "contact_book")
    district_id: int | None = None  # whose office answers a correction about the child


def register_children(app, name: str, fn) -> None:
    """An area's fn(user) → list[Child]: the children of `user` it processes data about."""
    app.extensions.setdefault("privacy_children", {})[name] = fn


def children_of(user) -> list[Child]:
    out: list[Child] = []
    for fn in current_app.extensions.get("privacy_children", {}).values():
        out.extend(fn(user))
    return out


def age_on(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def needs_own_consent(child: Child, today: date, from_age: int) -> bool:
    age = age_on(child.date_of_birth, today)
    return age is not None and age >= from_age

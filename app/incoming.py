"""Incoming pupils: the children an area admitted to a school for a year, as the other areas read
them. Admissions fills the registry from its register(app) (`register_incoming_source`); the
contact book asks it (`incoming_children`) for a school's new grade 1, grade 6 and kindergarten
pupils. Neither area imports the other: they meet here, on plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import Flask, current_app

# The entry levels of admissions, as the contact book's grades (kindergarten: age-5 class, grade 0).
LEVEL_GRADE = {"kindergarten": 0, "grade1": 1, "grade6": 6}


@dataclass(frozen=True)
class IncomingChild:
    """One child admitted to `school_id` for `academic_year_id`.

    `key` is stable across calls ("admissions:<application id>"); `pupil_code` is the code the
    school will know the child by (the personal ID); `guardian_ids` are the parent accounts that
    applied and proved their phone, `guardian_phone` the first of their numbers."""

    key: str
    school_id: int
    academic_year_id: int
    level: str
    full_name: str
    date_of_birth: date
    gender: str
    pupil_code: str
    guardian_ids: tuple[int, ...]
    guardian_phone: str | None

    @property
    def grade(self) -> int:
        return LEVEL_GRADE[self.level]


Source = Callable[[int, int], list[IncomingChild]]


def register_incoming_source(app: Flask, source: Source) -> None:
    """An area offers its admitted children: `source(school_id, academic_year_id)`."""
    app.extensions.setdefault("incoming_sources", []).append(source)


def incoming_children(school_id: int, academic_year_id: int) -> list[IncomingChild]:
    """Every registered source's children for the school and year, by name then key."""
    found: list[IncomingChild] = []
    for source in current_app.extensions.get("incoming_sources", []):
        found.extend(source(school_id, academic_year_id))
    return sorted(found, key=lambda c: (c.full_name, c.key))

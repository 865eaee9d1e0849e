"""Who a child is, as adding the child found it: the population registry's record mapped to our
wards, or the school roster's entry when no registry is configured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.models import District, ResidentialGroup, Ward

from .models import RosterEntry


@dataclass
class Identity:
    full_name: str
    date_of_birth: date
    gender: str
    ward_id: int
    residential_group_id: int | None
    residence_type: str
    source: str


def digits(text: str | None) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


def identity_from_registry(record, roster: RosterEntry) -> Identity:
    """Residence from the registry, mapped to our wards; falls back to the roster's address."""
    ward_id, group_id = roster.ward_id, roster.residential_group_id
    q = sa.select(Ward).join(District).where(Ward.name == record.ward)
    if record.district:
        q = q.where(sa.or_(District.name == record.district, District.code == record.district))
    ward = db.session.scalars(q).first()
    if ward is not None:
        ward_id, group_id = ward.id, None
        if record.residential_group:
            group_id = db.session.scalar(
                sa.select(ResidentialGroup.id).where(
                    ResidentialGroup.ward_id == ward.id, ResidentialGroup.name == record.residential_group
                )
            )
    return Identity(
        record.full_name,
        record.date_of_birth,
        record.gender,
        ward_id,
        group_id,
        record.residence_type,
        "registry",
    )

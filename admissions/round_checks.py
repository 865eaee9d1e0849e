"""What publishing a round checks first: the applications are as the round saw them (the status
fingerprint stored with the result) and the entry list is the one the attempt froze (a digest of
its raw rows taken before the freeze, else the full Merkle root: freeze.check_unchanged).

PostgreSQL computes the hashes in the database (one row comes back, not one per application);
elsewhere the fingerprint is hashed here and the digest is not taken.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import Ward

from . import freeze
from .models import AdmissionLevel, AllocationRound, Application, Child

# In the district: the child lives there (the join every statement below shares).
_IN_DISTRICT = """
    FROM application a JOIN child c ON c.id = a.child_id JOIN ward w ON w.id = c.ward_id
    WHERE a.admission_level_id = :level AND w.district_id = :district"""

# The hashes below, as PostgreSQL aggregates over the district's applications `a` (the same text
# the Python fallback hashes): the status fingerprint, and the parts of the entry-list digest.
_FINGERPRINT_SQL = (
    "encode(sha256(convert_to(coalesce(string_agg(concat(a.id, ':', a.status, ':', "
    "coalesce(a.allocated_school_id, 0), ':', CASE WHEN a.assigned_by_id IS NULL THEN 0 ELSE 1 "
    "END, ';'), '' ORDER BY a.id), ''), 'UTF8')), 'hex')"
)
_ENTRIES_MD5_SQL = (
    "md5(coalesce(string_agg(concat(a.id, ':', coalesce(a.catchment_school_id, 0), ':',"
    " a.sibling_school_ids::text, ':', (a.status = 'withdrawn')::int, ';'), '' ORDER BY a.id), ''))"
)
_CHOICES_MD5_SQL = (  # joined to the district's applications `a` (a CTE: a hash join, not one probe each)
    "(SELECT md5(coalesce(string_agg(concat(ch.application_id, ':', ch.rank, ':', ch.school_id, ';'),"
    "   '' ORDER BY ch.application_id, ch.rank), '')) FROM application_choice ch JOIN a ON a.id = ch.application_id)"
)
_SCHOOLS_MD5_SQL = (
    "(SELECT md5(coalesce(string_agg(concat(s.id, ':', s.code, ':', s.capacity, ';'), '' ORDER BY s.id),"
    "   '')) FROM school s WHERE s.level = :kind AND s.district_id = :district)"
)


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def fingerprint(level_id: int, district_id: int) -> str:
    """SHA-256 over every application's (id, status, seat, office flag) of the level in the district.

    PostgreSQL hashes the same text in the database (one row comes back, not one per application)."""
    if is_postgresql():
        return db.session.execute(
            sa.text("SELECT " + _FINGERPRINT_SQL + _IN_DISTRICT), {"level": level_id, "district": district_id}
        ).scalar_one()
    q = (
        sa.select(
            Application.id,
            Application.status,
            Application.allocated_school_id,
            Application.assigned_by_id.is_not(None),
        )
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(Application.admission_level_id == level_id, Ward.district_id == district_id)
        .order_by(Application.id)
    )
    h = hashlib.sha256()
    for aid, status, school, office in db.session.execute(q):
        h.update(f"{aid}:{status}:{school or 0}:{int(bool(office))};".encode())
    return h.hexdigest()


def _digest_of(parts) -> str:
    """The entry-list digest from its three md5 parts and the key that codes the entries."""
    key = hashlib.sha256(str(current_app.secret_key).encode("utf-8")).hexdigest()
    return hashlib.sha256("|".join([*parts, key]).encode()).hexdigest()


def _hashes(level: AdmissionLevel, district_id: int, with_fingerprint: bool) -> list[str]:
    """[fingerprint,] the entry-list digest's three parts: one statement, the district's
    applications read once (the join to children and wards is most of the work)."""
    fingerprint_sql = f"(SELECT {_FINGERPRINT_SQL} FROM a), " if with_fingerprint else ""
    return list(
        db.session.execute(
            sa.text(
                "WITH a AS MATERIALIZED (SELECT a.id, a.status, a.allocated_school_id, a.assigned_by_id,"
                " a.catchment_school_id, a.sibling_school_ids" + _IN_DISTRICT + ")"
                f" SELECT {fingerprint_sql}(SELECT {_ENTRIES_MD5_SQL} FROM a), {_CHOICES_MD5_SQL},"
                f" {_SCHOOLS_MD5_SQL}"
            ),
            {"level": level.id, "district": district_id, "kind": level.level},
        ).one()
    )


def inputs_digest(level: AdmissionLevel, district_id: int) -> str | None:
    """SHA-256 of the raw rows the entry list is made of (the applications' ids, catchments,
    siblings and withdrawn flag, their ranked choices, the schools' codes and seats) and of the
    key that codes the entries; PostgreSQL only (None elsewhere).

    Taken *before* an attempt freezes the entries: if it is the same when the round is published,
    nothing the freeze read has changed since, and the Merkle root need not be rebuilt (the full
    check runs whenever it differs)."""
    if not is_postgresql():
        return None
    return _digest_of(_hashes(level, district_id, with_fingerprint=False))


def fingerprint_and_digest(level: AdmissionLevel, district_id: int) -> tuple[str, str | None]:
    """fingerprint() and inputs_digest() at once (one statement on PostgreSQL)."""
    if not is_postgresql():
        return fingerprint(level.id, district_id), None
    fp, *parts = _hashes(level, district_id, with_fingerprint=True)
    return fp, _digest_of(parts)


def check_inputs_unchanged(rnd: AllocationRound, digest: str | None = None) -> None:
    """Publishing: the entries must still be those the attempt froze (the cheap digest when it
    matches, else the full Merkle root). `digest`: inputs_digest() taken already in this transaction."""
    before = (rnd.summary or {}).get("inputs_digest")
    if before is not None:
        if digest is None:
            digest = inputs_digest(rnd.admission_level, rnd.district_id)
        if before == digest:
            return
    freeze.check_unchanged(rnd)

"""A published round 1's transcript: everything a citizen needs to re-derive it with
admissions/allocation/verify_round.py (docs/verification.md, "The transcript"), a family's line
found by its entry code with its inclusion proof, and the public record of a level in a district
(commitment, entry versions, beacon, attempts). Entry codes only, no names."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db

from .allocation import student_key
from .allocation.verification import (
    FREEZE_FORMAT,
    SEED_METHOD,
    freeze_leaves,
    inclusion_proof,
    verify_inclusion,
)
from .freeze import (
    beacon_due,
    beacon_round_for,
    commitment_of,
    latest_attempt,
    latest_freeze,
    scope,
    versions,
)
from .freeze_models import EntryFreeze, RoundAttempt, RoundCommitment
from .models import AdmissionLevel, AllocationRound, RoundKind
from .rules import RoundError
from .seasons import level_window

TRANSCRIPT_FORMAT = "school-round-transcript/1"


def _iso(at) -> str | None:
    return at.isoformat() + "Z" if at else None


def transcript(rnd: AllocationRound) -> dict:
    """The transcript of a published official round 1 (its last attempt)."""
    if not (rnd.is_official and rnd.is_published and rnd.number == 1):
        raise RoundError("no_transcript")
    attempt = latest_attempt(rnd)
    c = commitment_of(rnd.admission_level, rnd.district_id)
    if attempt is None or attempt.lottery_seed is None or c is None:
        raise RoundError("no_transcript")
    frozen = attempt.freeze
    code_of = {
        student_key(aid): e["code"]
        for aid, e in zip(frozen.application_ids, frozen.content["entries"], strict=True)
    }
    assignment = rnd.result["assignment"]
    return {
        "format": TRANSCRIPT_FORMAT,
        "round": rnd.number,
        "attempt": attempt.number,
        "level": rnd.admission_level.level,
        "district_id": rnd.district_id,
        "entries": {
            "format": FREEZE_FORMAT,
            "version": frozen.version,
            "frozen_at": _iso(frozen.created_at),
            "fingerprint": {
                "root": frozen.root,
                "schools": frozen.schools,
                "entries": frozen.entries,
                "seats": frozen.seats,
            },
            "schools": frozen.content["schools"],
            "entries": frozen.content["entries"],
        },
        "randomness": {
            "method": SEED_METHOD,
            "secret_sha256": c.secret_sha256,
            "committed_at": _iso(c.committed_at),
            "secret": c.secret,
            "beacon_round": c.beacon_round,
            "beacon_randomness": c.beacon_randomness,
            "beacon_signature": c.beacon_signature,
            "beacon_source": c.beacon_source,
            "beacon_typed_by_office": c.beacon_entered_by_id is not None,
        },
        "lottery_seed": attempt.lottery_seed,
        "lottery": {code_of[s["id"]]: s["lottery"] for s in rnd.input_snapshot["students"]},
        "result": {code_of[k]: v for k, v in assignment.items()},
        "published_at": _iso(rnd.published_at),
    }


@dataclass
class Lookup:
    """A family's line in the latest entry version, with its inclusion proof checked."""

    version: EntryFreeze
    entry: dict | None
    proof: list[str]
    included: bool


def lookup(level: AdmissionLevel, district_id: int, code: str) -> Lookup | None:
    """Find an entry code in the latest frozen version; None before the freeze."""
    frozen = latest_freeze(level, district_id)
    if frozen is None:
        return None
    code = (code or "").strip().upper()
    schools, entries = frozen.content["schools"], frozen.content["entries"]
    leaves = freeze_leaves(schools, entries)
    ordered = sorted(entries, key=lambda e: e["code"])
    index = next((i for i, e in enumerate(ordered) if e["code"] == code), None)
    if index is None:
        return Lookup(frozen, None, [], False)
    i = len(schools) + index
    proof = inclusion_proof(leaves, i)
    return Lookup(
        frozen, ordered[index], proof, verify_inclusion(leaves[i], i, len(leaves), proof, frozen.root)
    )


# ---- the public record ------------------------------------------------------------------------


def ledger(level: AdmissionLevel, district_id: int) -> dict:
    """Everything the public page shows for a level in a district."""
    rounds_ = list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(
                AllocationRound.admission_level_id == level.id,
                AllocationRound.district_id == district_id,
                AllocationRound.kind == RoundKind.OFFICIAL,
            )
            .order_by(AllocationRound.number)
        )
    )
    attempts = list(
        db.session.scalars(
            sa.select(RoundAttempt)
            .where(RoundAttempt.round_id.in_([r.id for r in rounds_]))
            .order_by(RoundAttempt.round_id, RoundAttempt.number)
        )
    )
    first = next((r for r in rounds_ if r.number == 1), None)
    c = commitment_of(level, district_id)
    window = level_window(level)
    return {
        "commitment": c,
        "committed_before_opening": c is not None
        and window.opens_at is not None
        and c.committed_at <= window.opens_at,
        "beacon_round": c.beacon_round if c and c.beacon_round else beacon_round_for(level),
        "beacon_due": c is not None and beacon_due(c),
        "versions": versions(level, district_id),
        "rounds": rounds_,
        "attempts": attempts,
        "revealed": first is not None and first.is_published,
        "window": window,
    }


def public_records(limit: int = 200) -> list[dict]:
    """The public index: every seed commitment, newest first, with its latest entry version."""
    rows = list(
        db.session.scalars(
            sa.select(RoundCommitment).order_by(RoundCommitment.committed_at.desc()).limit(limit)
        )
    )
    latest = {}
    if rows:
        for f in db.session.scalars(
            sa.select(EntryFreeze)
            .where(EntryFreeze.admission_level_id.in_({c.admission_level_id for c in rows}))
            .order_by(EntryFreeze.version)
        ):
            latest[(f.admission_level_id, f.district_id, f.is_trial)] = f
    return [
        {"commitment": c, "freeze": latest.get((c.admission_level_id, c.district_id, c.is_trial))}
        for c in rows
    ]


def version_of(level: AdmissionLevel, district_id: int, version: int) -> EntryFreeze | None:
    return db.session.scalar(
        sa.select(EntryFreeze).where(*scope(level, district_id, EntryFreeze), EntryFreeze.version == version)
    )

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
from .market import official_round
from .models import AdmissionLevel, AllocationRound, Application, RoundKind
from .rules import RoundError
from .seasons import level_window

TRANSCRIPT_FORMAT = "school-round-transcript/1"


def _iso(at) -> str | None:
    return at.isoformat() + "Z" if at else None


def transcript(rnd: AllocationRound) -> dict:
    """The transcript of a published official round (its last attempt). Round 1 carries its own
    draw; a later round carries round 1's draw (the season keeps its lottery numbers), where each
    child stood when it ran (a seat a round gave her, an office seat, or none) and why the entries
    it left out were left out (docs/verification.md, "Later rounds")."""
    if not (rnd.is_official and rnd.is_published):
        raise RoundError("no_transcript")
    attempt = latest_attempt(rnd)
    c = commitment_of(rnd.admission_level, rnd.district_id)
    first = rnd if rnd.number == 1 else official_round(rnd.admission_level_id, rnd.district_id, 1)
    drawn = latest_attempt(first) if first is not None else None
    if attempt is None or drawn is None or drawn.lottery_seed is None or c is None:
        raise RoundError("no_transcript")
    frozen = attempt.freeze
    code_of = {
        student_key(aid): e["code"]
        for aid, e in zip(frozen.application_ids, frozen.content["entries"], strict=True)
    }
    students = rnd.input_snapshot["students"]
    out = {
        "format": TRANSCRIPT_FORMAT,
        "round": rnd.number,
        "attempt": attempt.number,
        "level": rnd.admission_level.level,
        "district_id": rnd.district_id,
        "entries": _entries(frozen),
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
        "lottery_seed": drawn.lottery_seed,
    }
    if rnd.number > 1:
        first_frozen = drawn.freeze
        out["lottery_draw"] = {
            "round": 1,
            "attempt": drawn.number,
            "entries_version": first_frozen.version,
            "entries_root": first_frozen.root,
            "codes": [e["code"] for e in first_frozen.content["entries"]],
        }
        out["standing"] = {code_of[s["id"]]: _standing(s) for s in students}
        out["left_out"] = _left_out(frozen, {s["id"] for s in students})
    out["lottery"] = {code_of[s["id"]]: s["lottery"] for s in students}
    out["result"] = {code_of[k]: v for k, v in rnd.result["assignment"].items()}
    out["published_at"] = _iso(rnd.published_at)
    return out


def _entries(frozen: EntryFreeze) -> dict:
    return {
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
    }


def _standing(student: dict) -> dict:
    """Where a child stood when a later round ran: a seat a round gave her (``held``: she keeps it
    or moves up her list), a seat the office gave her (``office``: she may move up only to a
    school she ranked above it), or none."""
    if student.get("held"):
        return {"held": student["held"]}
    if student.get("office_seat"):
        return {"office": student["office_seat"]}
    return {}


def _left_out(frozen: EntryFreeze, taken: set[str]) -> dict[str, str]:
    """Entry code → why a later round left that entry out (declined, expired, or another status)."""
    missing = {
        aid: e["code"]
        for aid, e in zip(frozen.application_ids, frozen.content["entries"], strict=True)
        if student_key(aid) not in taken
    }
    if not missing:
        return {}
    status = dict(
        db.session.execute(
            sa.select(Application.id, Application.status).where(Application.id.in_(list(missing)))
        ).all()
    )
    return {
        code: str(status.get(aid, "removed")) for aid, code in sorted(missing.items(), key=lambda x: x[1])
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

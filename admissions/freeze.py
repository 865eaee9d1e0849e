"""Rounds nobody can steer: the seed commitment, the entry freeze and its versions, the beacon,
the lottery seed and every attempt of an official round, all public (docs/verification.md).

- Before a level's window opens, the office's secret seed is drawn and its SHA-256 published with
  the time (``ensure_commitment``; the scheduled ``flask --app app admissions freeze-entries``).
- When the window closes, the anonymised entry list is frozen (``refreeze``): per application its
  entry code, choices, catchment and siblings; per school its seats. Its fingerprint (Merkle root
  plus counts) is public. Any later difference (a council correction, a capacity change, a
  withdrawal) becomes a new dated version with what changed and the officer's reason; a round
  always runs on the latest version.
- Round 1's lottery seed is ``derive_seed(secret, root, beacon round, beacon value)``; the beacon
  round is the first one after the close, its value fetched from BEACON_URL or entered by an
  officer with its source. Without it the round waits.
- Every run of an official round is a numbered, public attempt; running again on the same
  version needs a reason.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

import sqlalchemy as sa
from flask import current_app

from app.audit import audit
from app.extensions import db
from app.models import District, School, User

from . import allocation, beacon
from .allocation import student_key
from .allocation.verification import (
    beacon_round_after,
    beacon_round_time,
    canonical,
    derive_seed,
    entry_code,
    entry_coder,
    entry_record,
    freeze_fingerprint,
    school_record,
)
from .applications import in_district
from .freeze_models import REASON_MAX, AttemptStatus, EntryFreeze, RoundAttempt, RoundCommitment
from .models import (
    AdmissionLevel,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
)
from .rules import RoundError
from .seasons import current_season, level_window, now

HEX = re.compile(r"^[0-9a-f]{32,128}$")


def entry_code_of(application_id: int) -> str:
    """The entry code printed on the family's receipt (keyed by the app's secret key)."""
    return entry_code(str(current_app.secret_key).encode("utf-8"), application_id)


def scope(level: AdmissionLevel, district_id: int, model):
    return (
        model.admission_level_id == level.id,
        model.district_id == district_id,
        model.is_trial.is_(bool(level.season.is_trial)),
    )


# ---- the commitment and the beacon --------------------------------------------------------------


def commitment_of(level: AdmissionLevel, district_id: int) -> RoundCommitment | None:
    return db.session.scalar(sa.select(RoundCommitment).where(*scope(level, district_id, RoundCommitment)))


def ensure_commitment(level: AdmissionLevel, district_id: int) -> RoundCommitment:
    """The level's seed commitment in the district, drawn now if there is none (idempotent)."""
    found = commitment_of(level, district_id)
    if found is not None:
        return found
    secret = allocation.new_seed()
    c = RoundCommitment(
        admission_level_id=level.id,
        district_id=district_id,
        is_trial=bool(level.season.is_trial),
        secret=secret,
        secret_sha256=allocation.seed_commitment(secret),
        committed_at=now(),
    )
    db.session.add(c)
    db.session.flush()
    audit(
        "admissions.round.commit", c, level_id=level.id, district_id=district_id, seed_sha256=c.secret_sha256
    )
    return c


def beacon_round_for(level: AdmissionLevel) -> int | None:
    """The rule fixed in advance: the first beacon round after the window closes."""
    closes = level_window(level).closes_at
    if closes is None:
        return None
    genesis, period = beacon.chain()
    return beacon_round_after(genesis, period, _unix(closes))


def _unix(naive_utc) -> float:
    return (naive_utc - naive_utc.__class__(1970, 1, 1)).total_seconds()


def beacon_due(c: RoundCommitment) -> bool:
    """The beacon round has been emitted (by the chain's clock)."""
    if c.beacon_round is None:
        return False
    genesis, period = beacon.chain()
    return _unix(now()) >= beacon_round_time(genesis, period, c.beacon_round)


def ensure_beacon(c: RoundCommitment, fetched: dict | None = None) -> bool:
    """Fetch the beacon value when it is due and BEACON_URL is set; True once a value is stored.
    ``fetched`` (round -> value or None) lets one pass over many districts ask the beacon once
    per round, and not wait for a beacon that is down once per district."""
    if c.beacon_randomness:
        return True
    if not beacon_due(c) or beacon.configured_url() is None:
        return False
    fetched = {} if fetched is None else fetched
    if c.beacon_round not in fetched:
        try:
            fetched[c.beacon_round] = beacon.fetch(c.beacon_round)
        except beacon.BeaconUnavailable:
            fetched[c.beacon_round] = None
    value = fetched[c.beacon_round]
    if value is None:
        return False
    c.beacon_randomness, c.beacon_signature, c.beacon_source = value.randomness, value.signature, value.source
    c.beacon_at = now()
    db.session.flush()
    audit("admissions.round.beacon", c, beacon_round=c.beacon_round, fetched=True)
    return True


def enter_beacon(c: RoundCommitment, randomness: str, source: str, actor: User) -> None:
    """An officer types the beacon value and where it was read (shown on the public page)."""
    randomness = (randomness or "").strip().lower()
    source = (source or "").strip()[:300]
    if c.beacon_randomness:
        raise RoundError("beacon_set")
    if c.beacon_round is None:
        level = c.admission_level
        if level_window(level).status(now()) != "closed":
            raise RoundError("not_frozen")
        c.beacon_round = beacon_round_for(level)  # the rule published in advance
    if not beacon_due(c):
        raise RoundError("beacon_not_due")
    if not HEX.match(randomness) or not source:
        raise RoundError("beacon_value")
    c.beacon_randomness, c.beacon_source, c.beacon_entered_by_id = randomness, source, actor.id
    c.beacon_at = now()
    db.session.flush()
    audit("admissions.round.beacon", c, actor_id=actor.id, beacon_round=c.beacon_round, fetched=False)


# ---- the entry list and its versions --------------------------------------------------------------


def live_entries(level: AdmissionLevel, district_id: int) -> tuple[list[dict], list[dict], list[int]]:
    """(school records, entry records, application ids aligned to entries) as the database says now.

    Entries: every application of the level in the district that was not withdrawn; choices as
    the allocator takes them (schools of the district only, the catchment school appended last
    when not listed)."""
    schools = db.session.execute(
        sa.select(School.id, School.code, School.capacity)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.code)
    ).all()
    code = {sid: c for sid, c, _cap in schools}
    apps = db.session.execute(
        sa.select(Application.id, Application.catchment_school_id, Application.sibling_school_ids)
        .where(
            Application.admission_level_id == level.id,
            in_district(district_id),
            Application.status != ApplicationStatus.WITHDRAWN,
        )
        .order_by(Application.id)
    ).all()
    choice_map: dict[int, list[int]] = defaultdict(list)
    for aid, sid in db.session.execute(
        sa.select(ApplicationChoice.application_id, ApplicationChoice.school_id)
        .join(Application, Application.id == ApplicationChoice.application_id)
        .where(Application.admission_level_id == level.id, in_district(district_id))
        .order_by(ApplicationChoice.application_id, ApplicationChoice.rank)
    ):
        choice_map[aid].append(sid)
    code_of = entry_coder(str(current_app.secret_key).encode("utf-8"))
    entries, ids = [], []
    for aid, catchment_id, siblings in apps:
        choices = [code[s] for s in choice_map.get(aid, []) if s in code]
        catchment = code.get(catchment_id)
        if catchment is not None and catchment not in choices:
            choices.append(catchment)
        sib = [code[s] for s in (siblings or []) if s in code]
        entries.append(entry_record(code_of(aid), choices, catchment, sib))
        ids.append(aid)
    order = sorted(range(len(entries)), key=lambda i: entries[i]["code"])
    return (
        [school_record(c, cap) for _sid, c, cap in schools],
        [entries[i] for i in order],
        [ids[i] for i in order],
    )


def versions(level: AdmissionLevel, district_id: int) -> list[EntryFreeze]:
    return list(
        db.session.scalars(
            sa.select(EntryFreeze)
            .where(*scope(level, district_id, EntryFreeze))
            .order_by(EntryFreeze.version)
        )
    )


def latest_freeze(level: AdmissionLevel, district_id: int) -> EntryFreeze | None:
    return db.session.scalar(
        sa.select(EntryFreeze)
        .where(*scope(level, district_id, EntryFreeze))
        .order_by(EntryFreeze.version.desc())
        .limit(1)
    )


def _changes(before: dict, schools: list[dict], entries: list[dict]) -> list[dict]:
    """What differs from the version before: capacities school by school, entries counted."""
    out = []
    old_caps = {s["id"]: s["capacity"] for s in before.get("schools", [])}
    new_caps = {s["id"]: s["capacity"] for s in schools}
    for sid in sorted(set(old_caps) | set(new_caps)):
        if old_caps.get(sid) != new_caps.get(sid):
            out.append(
                {"kind": "capacity", "school": sid, "from": old_caps.get(sid), "to": new_caps.get(sid)}
            )
    old = {e["code"]: canonical(e) for e in before.get("entries", [])}
    new = {e["code"]: canonical(e) for e in entries}
    for kind, n in (
        ("entries_added", len(set(new) - set(old))),
        ("entries_removed", len(set(old) - set(new))),
        ("entries_changed", sum(1 for c in set(old) & set(new) if old[c] != new[c])),
    ):
        if n:
            out.append({"kind": kind, "n": n})
    return out


def refreeze(level: AdmissionLevel, district_id: int, actor: User | None, reason: str = "") -> EntryFreeze:
    """Freeze the entry list after the close: version 1, or a new version when the database
    differs from the latest one (idempotent: nothing changed, nothing written)."""
    if level_window(level).status(now()) != "closed":
        raise RoundError("window_not_closed")
    schools, entries, ids = live_entries(level, district_id)
    fp = freeze_fingerprint(schools, entries)
    last = latest_freeze(level, district_id)
    if last is not None and last.root == fp["root"]:
        return last
    commitment = ensure_commitment(level, district_id)
    if commitment.beacon_round is None:
        commitment.beacon_round = beacon_round_for(level)
    version = 1 if last is None else last.version + 1
    row = EntryFreeze(
        admission_level_id=level.id,
        district_id=district_id,
        is_trial=bool(level.season.is_trial),
        version=version,
        root=fp["root"],
        schools=fp["schools"],
        entries=fp["entries"],
        seats=fp["seats"],
        reason=(reason or "").strip()[:REASON_MAX],
        changes=[] if last is None else _changes(last.content, schools, entries),
        content={"schools": schools, "entries": entries},
        application_ids=ids,
        created_at=now(),
        created_by_id=actor.id if actor else None,
    )
    db.session.add(row)
    db.session.flush()
    audit(
        "admissions.round.freeze",
        row,
        actor_id=actor.id if actor else None,
        level_id=level.id,
        district_id=district_id,
        version=version,
        root=fp["root"],
        entries=fp["entries"],
    )
    return row


# ---- attempts --------------------------------------------------------------------------------------


def attempts_of(rnd: AllocationRound) -> list[RoundAttempt]:
    return list(
        db.session.scalars(
            sa.select(RoundAttempt).where(RoundAttempt.round_id == rnd.id).order_by(RoundAttempt.number)
        )
    )


def latest_attempt(rnd: AllocationRound) -> RoundAttempt | None:
    return db.session.scalar(
        sa.select(RoundAttempt)
        .where(RoundAttempt.round_id == rnd.id)
        .order_by(RoundAttempt.number.desc())
        .limit(1)
    )


def begin_attempt(rnd: AllocationRound, actor: User, reason: str = "") -> RoundAttempt:
    """Before an official round is queued: the latest entry version (a new one if anything
    changed), round 1's lottery seed (the beacon must be there), and a new numbered attempt.
    Refuses a second run on the same version without a reason."""
    level = rnd.admission_level
    reason = (reason or "").strip()[:REASON_MAX]
    frozen = refreeze(level, rnd.district_id, actor, reason)
    seed = None
    if rnd.number == 1:
        c = ensure_commitment(level, rnd.district_id)
        if not ensure_beacon(c):
            raise RoundError("beacon_wait", beacon_round=c.beacon_round)
        seed = derive_seed(c.secret, frozen.root, c.beacon_round, c.beacon_randomness)
    earlier = attempts_of(rnd)
    if any(a.freeze_id == frozen.id and a.status == AttemptStatus.DONE for a in earlier) and not reason:
        raise RoundError("reason_required")
    attempt = RoundAttempt(
        round_id=rnd.id,
        number=len(earlier) + 1,
        freeze_id=frozen.id,
        lottery_seed=seed,
        reason=reason,
        status=AttemptStatus.RUNNING,
        created_at=now(),
        created_by_id=actor.id,
    )
    db.session.add(attempt)
    db.session.flush()
    audit(
        "admissions.round.attempt",
        rnd,
        actor_id=actor.id,
        attempt=attempt.number,
        version=frozen.version,
        root=frozen.root,
        rerun=bool(earlier),
    )
    return attempt


def lottery_numbers(rnd: AllocationRound) -> tuple[dict[str, int] | None, dict]:
    """Round 1's lottery numbers (student key → number), drawn with the latest attempt's seed over
    the frozen entry codes, and what the instance's meta records about it. What-if runs of round 1
    use their base round's draw when there is one; else (None, …): a private preview draw."""
    meta: dict = {} if rnd.is_official else {"private": "what-if run of the office: never published"}
    source = rnd if rnd.is_official else rnd.base_round
    if rnd.number != 1 or source is None:
        return None, meta  # later rounds keep round 1's numbers
    attempt = latest_attempt(source)
    if attempt is None or attempt.lottery_seed is None:
        if not rnd.is_official:
            meta["lottery_seed"] = "private preview (not the official draw)"
        return None, meta
    frozen = attempt.freeze
    codes = [e["code"] for e in frozen.content["entries"]]
    drawn = allocation.draw_lottery(attempt.lottery_seed, codes)
    numbers = {student_key(aid): drawn[c] for c, aid in zip(codes, frozen.application_ids, strict=True)}
    meta.update(entry_version=frozen.version, entry_root=frozen.root, attempt=attempt.number)
    return numbers, meta


def finish_attempt(rnd: AllocationRound, result: dict | None) -> None:
    """Record what the latest attempt produced (None: it failed)."""
    attempt = latest_attempt(rnd) if rnd.is_official else None
    if attempt is None or attempt.status != AttemptStatus.RUNNING:
        return
    if result is None:
        attempt.status = AttemptStatus.FAILED
    else:
        attempt.status = AttemptStatus.DONE
        assignment = result["assignment"]
        attempt.result_sha256 = hashlib.sha256(canonical(assignment)).hexdigest()
        attempt.assigned = sum(1 for v in assignment.values() if v is not None)
        attempt.unassigned = len(assignment) - attempt.assigned
    db.session.flush()


def check_unchanged(rnd: AllocationRound) -> None:
    """Publishing: the entries and capacities must still be the version the last attempt ran on."""
    attempt = latest_attempt(rnd)
    if attempt is None:
        return
    schools, entries, _ids = live_entries(rnd.admission_level, rnd.district_id)
    if freeze_fingerprint(schools, entries)["root"] != attempt.freeze.root:
        raise RoundError("entries_changed")


# ---- the scheduled check -----------------------------------------------------


def scheduled_check(actor: User | None = None) -> dict[str, int]:
    """The scheduled job: commitments for the current season's levels in every district, freezes
    (and new versions) of closed windows, beacon values that are due. Idempotent."""
    season = current_season()
    counts = {"commitments": 0, "versions": 0, "beacons": 0}
    if season is None:
        return counts
    districts = list(db.session.scalars(sa.select(District.id).order_by(District.id)))
    at = now()
    fetched: dict = {}
    for level in season.levels:
        window = level_window(level)
        if window.opens_at is None or window.closes_at is None:
            continue
        for did in districts:
            had = commitment_of(level, did)
            c = ensure_commitment(level, did)
            counts["commitments"] += had is None
            if window.status(at) != "closed":
                continue
            last = latest_freeze(level, did)
            if refreeze(level, did, actor) is not last:
                counts["versions"] += 1
            had_value = bool(c.beacon_randomness)
            if ensure_beacon(c, fetched) and not had_value:
                counts["beacons"] += 1
    return counts

"""The office's figures as counters kept on write, so that a dashboard reads a few dozen rows
instead of aggregating every application of a district (docs/capacity.md).

An application *contributes* to counter rows (table `admission_counter`, counter_models.py):

- per school it lists: any_choice +1, first_choice +1 at rank 1, catchment +1 on its catchment
  choice, claims +1 when it holds a seat at a school it ranked lower (or unranked); per school it is allocated to (allocated_school_id): placed +1 — keyed by its status
  and trial flag;
- per ward its child lives in: applications +1, keyed the same way;
- per school it lists and per ward, by the UTC hour of its first submission (status "").

A write that changes one application calls `applied(app_, before)` once at its end, with
`before = snapshot(app_)` taken before the change (None for a new application): the difference
goes to the database in one statement (INSERT … ON CONFLICT DO UPDATE n = n + delta) in the
write's own transaction. Set-based writes (a round's results, expiries, the trial's wipe)
recompute the level's rows of the district from the applications, set-based
(`recompute_for_season(level_id, district_id)`). `drift()` compares the stored rows with a from-scratch
count: `flask --app app admissions counters` reports it (and repairs it with --fix), nightly.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import School, Ward

from .counter_models import AdmissionCounter, RosterRegistration
from .models import Application, ApplicationChoice, Child

COLUMNS = ("applications", "first_choice", "catchment", "any_choice", "placed", "claims")
Key = tuple[int, str, int, bool, str, str]  # level, scope, scope_id, is_trial, status, hour
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What an application contributes, as {key: {column: n}}."""

    rows: dict


def _hour_text(at) -> str:
    return at.strftime("%Y-%m-%d %H") if at is not None else ""


class Choice(NamedTuple):
    """A ranked choice as just written (what the counters read of one)."""

    rank: int
    school_id: int
    is_catchment: bool


def contribution(app_: Application, choices: Iterable | None = None) -> dict[Key, Counter]:
    """The counter rows one application adds to (pure Python on loaded objects: the child is
    normally in the session already, the choices are the application's collection unless the
    writer passes the rows it has just inserted)."""
    out: dict[Key, Counter] = defaultdict(Counter)
    lv, trial, status = app_.admission_level_id, bool(app_.is_trial), str(app_.status)
    hour = _hour_text(app_.submitted_at)
    ward_id = app_.child.ward_id
    out[(lv, "ward", ward_id, trial, status, "")]["applications"] += 1
    out[(lv, "ward_hour", ward_id, trial, "", hour)]["applications"] += 1
    for c in app_.choices if choices is None else choices:
        row = out[(lv, "school", c.school_id, trial, status, "")]
        row["any_choice"] += 1
        row["first_choice"] += int(c.rank == 1)
        row["catchment"] += int(bool(c.is_catchment))
        row["claims"] += int(_claims(app_.allocated_school_id, app_.allocated_rank, c.school_id, c.rank))
        out[(lv, "school_hour", c.school_id, trial, "", hour)]["applications"] += 1
    if app_.allocated_school_id is not None:
        out[(lv, "school", app_.allocated_school_id, trial, status, "")]["placed"] += 1
    return out


def _claims(seat: int | None, seat_rank: int | None, school_id: int, rank: int) -> bool:
    """The choice is a school ranked above the seat the application holds elsewhere."""
    return seat is not None and seat != school_id and (seat_rank is None or rank < seat_rank)


def snapshot(app_: Application) -> Snapshot:
    return Snapshot({k: Counter(v) for k, v in contribution(app_).items()})


_UPSERTS: dict[str, sa.Insert] = {}  # by dialect: built once, its rows passed as parameters


def _upsert() -> sa.Insert:
    """INSERT … ON CONFLICT DO UPDATE n = n + delta, built once per dialect: a statement holding
    its rows as values was built and compiled again on every write (most of a submit's CPU in
    the counters)."""
    dialect = db.session.get_bind().dialect.name
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        table = AdmissionCounter.__table__
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        stmt = _UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={c: table.c[c] + ins.excluded[c] for c in COLUMNS},
        )
    return stmt


def applied(app_: Application, before: Snapshot | None = None, choices: Iterable | None = None) -> None:
    """Move the counters from `before` (the application's snapshot before the write; None when it
    is new) to what it contributes now: one statement, none when nothing changed."""
    delta: dict[Key, Counter] = defaultdict(Counter)
    for key, cols in contribution(app_, choices).items():
        delta[key].update(cols)
    for key, cols in (before.rows if before is not None else {}).items():
        delta[key].subtract(cols)
    rows = []
    for (lv, scope, sid, trial, status, hour), cols in delta.items():
        if any(cols.values()):
            rows.append(
                {
                    "admission_level_id": lv,
                    "scope": scope,
                    "scope_id": sid,
                    "is_trial": trial,
                    "status": status,
                    "hour": hour,
                    **{c: int(cols.get(c, 0)) for c in COLUMNS},
                }
            )
    if rows:
        # in key order (two writers lock the rows they share in the same order); one executemany
        db.session.execute(_upsert(), sorted(rows, key=lambda r: tuple(r.values())[:6]))


# ---- from scratch (set-based) -----------------------------------------------------------------


def utc_hour(column):
    """SQL text 'YYYY-MM-DD HH' of a naive-UTC timestamp (SQLite, PostgreSQL)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM-DD HH24")
    return sa.func.strftime("%Y-%m-%d %H", column)


STATUS_SCOPES = ("school", "ward")  # the rows keyed by status; the *_hour rows are not


def _counted(level_id: int, places, scopes=None) -> sa.Select:
    """Every counter row of the level (of the district's schools and wards; of `scopes` only when
    given), computed from the applications: one SELECT of (key…, columns…)."""
    a, c = Application.__table__, ApplicationChoice.__table__
    one = sa.literal(1)
    trial, status, blank = a.c.is_trial, a.c.status, sa.literal("")
    hour = utc_hour(a.c.submitted_at)
    school_in, ward_in = places

    def part(scope, sid, st, hr, cols, frm, *where):
        values = {k: sa.literal(0) for k in COLUMNS}
        values.update(cols)
        return scope, (
            sa.select(
                sa.literal(scope).label("scope"),
                sid.label("scope_id"),
                trial.label("is_trial"),
                st.label("status"),
                hr.label("hour"),
                *(v.label(k) for k, v in values.items()),
            )
            .select_from(frm)
            .where(a.c.admission_level_id == level_id, *where)
        )

    ch = a.join(c, c.c.application_id == a.c.id)
    kid = a.join(Child.__table__, Child.__table__.c.id == a.c.child_id)
    ward = Child.__table__.c.ward_id
    first = sa.case((c.c.rank == 1, 1), else_=0)
    catch = sa.case((c.c.is_catchment.is_(True), 1), else_=0)
    above = sa.case(
        (
            sa.and_(
                a.c.allocated_school_id.is_not(None),
                a.c.allocated_school_id != c.c.school_id,
                sa.or_(a.c.allocated_rank.is_(None), c.c.rank < a.c.allocated_rank),
            ),
            1,
        ),
        else_=0,
    )
    parts = [
        part(
            "school",
            c.c.school_id,
            status,
            blank,
            {"first_choice": first, "catchment": catch, "any_choice": one, "claims": above},
            ch,
        ),
        part(
            "school",
            a.c.allocated_school_id,
            status,
            blank,
            {"placed": one},
            a,
            a.c.allocated_school_id.is_not(None),
        ),
        part(
            "school_hour",
            c.c.school_id,
            blank,
            hour,
            {"applications": one},
            ch,
        ),
        part(
            "ward",
            ward,
            status,
            blank,
            {"applications": one},
            kid,
        ),
        part(
            "ward_hour",
            ward,
            blank,
            hour,
            {"applications": one},
            kid,
        ),
    ]
    u = sa.union_all(*(q for scope, q in parts if scopes is None or scope in scopes)).subquery()
    keys = (u.c.scope, u.c.scope_id, u.c.is_trial, u.c.status, u.c.hour)
    grouped = sa.select(
        sa.literal(level_id).label("admission_level_id"),
        *keys,
        *(sa.func.sum(u.c[k]).label(k) for k in COLUMNS),
    ).group_by(*keys)
    if school_in is None:
        return grouped
    # The district's rows kept after grouping the level (OFFSET 0 keeps PostgreSQL from pushing
    # the id lists down into the scans, where they turned hash joins into 60 index scans: 2× slower).
    g = grouped.offset(0).subquery()
    return sa.select(*g.c).where(
        sa.or_(
            sa.and_(g.c.scope.in_(("school", "school_hour")), g.c.scope_id.in_(school_in)),
            sa.and_(g.c.scope.in_(("ward", "ward_hour")), g.c.scope_id.in_(ward_in)),
        )
    )


def _places(level_id: int, district_id: int | None) -> tuple[list[int] | None, list[int] | None]:
    """(schools, wards) whose rows a district's writes can change: its own schools and wards, and
    any other school its children list or were given (None, None: the whole level). Read first as
    plain id lists: as subqueries, PostgreSQL may re-run them once per row."""
    if district_id is None:
        return None, None
    a, c, k = Application.__table__, ApplicationChoice.__table__, Child.__table__
    w = Ward.__table__
    wards = sorted(db.session.scalars(sa.select(w.c.id).where(w.c.district_id == district_id)))
    # The district's applications once (a CTE both parts read): the seats' part on its own was
    # planned as one index probe per application right after a round's UPDATE had given them
    # their seats (the statistics still said "no seats"), 200,000 probes.
    mine = (
        sa.select(a.c.id, a.c.allocated_school_id)
        .join(k, k.c.id == a.c.child_id)
        .where(a.c.admission_level_id == level_id, k.c.ward_id.in_(wards))
        .cte("mine")
    )
    schools = sa.union(
        sa.select(School.__table__.c.id).where(School.__table__.c.district_id == district_id),
        sa.select(c.c.school_id).join(mine, mine.c.id == c.c.application_id),
        sa.select(mine.c.allocated_school_id).where(mine.c.allocated_school_id.is_not(None)),
    )
    return sorted(db.session.scalars(schools)), wards


def _stored(level_id: int, places, scopes=None):
    t = AdmissionCounter
    where = [t.admission_level_id == level_id]
    if scopes is not None:
        where.append(t.scope.in_(scopes))
    schools, wards = places
    if schools is not None:
        where.append(
            sa.or_(
                sa.and_(t.scope.in_(("school", "school_hour")), t.scope_id.in_(schools)),
                sa.and_(t.scope.in_(("ward", "ward_hour")), t.scope_id.in_(wards)),
            )
        )
    return where


# The class of the advisory lock a level's recounts take (its key: the level's id); any constant
# the app's other advisory locks do not use. "ac": admission_counter.
RECOUNT_LOCK_CLASS = 0x6163


def _one_recount_at_a_time(level_id: int) -> None:
    """A recount deletes the rows it sees and inserts what it counted. Two at once over rows they
    share (two districts publishing on results day, a ward of one served by a catchment school of
    the other; a round stored while another district's is published) each delete only the rows
    they see, so the second's insert meets the first's new rows: a unique violation, the second
    publication rolled back. On PostgreSQL a level's recounts take turns: each waits here, until
    the transaction before it ends, for a lock held to its own transaction's end; its statements
    then see what the first committed. SQLite lets one writer at a time anyway."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(RECOUNT_LOCK_CLASS, level_id)))


# A family's single write (an offer answered, an office placement) may add a counter row while a
# recount runs: a row the recount's DELETE did not see, which its INSERT then meets once that
# write commits. Such a write only ever adds what its own application contributes, and the
# recount's INSERT waited for it to commit: counting again from a savepoint (a DELETE that now
# sees the row, an INSERT whose snapshot holds the application) gives the right figures. The
# same write may hold one counter row and reach for another the recount's DELETE took on its way
# to the first (the write goes in key order, the DELETE in its scan's): PostgreSQL ends that
# deadlock by failing the recount, the first to wait, and rolling back to the savepoint lets
# the write through before counting again. A lock for those writes instead would deadlock too:
# a family's answer holds its application's row before its counters, a publication the level's
# recount lock (its expiries) before its applications.
RECOUNT_ATTEMPTS = 5
COUNT_AGAIN = {"23505": "a write added a row", "40P01": "a write held rows it also needed"}


def _rewritten(what: str, level_id: int, delete: sa.Delete, insert: sa.Insert) -> None:
    """A level's rows deleted and inserted again from the applications; on PostgreSQL in a
    savepoint, counted again when a write of one application met them meanwhile (above)."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(delete)
        db.session.execute(insert)
        return
    for attempt in range(1, RECOUNT_ATTEMPTS + 1):
        try:
            with db.session.begin_nested():
                db.session.execute(delete)
                db.session.execute(insert)
            return
        except sa.exc.DBAPIError as exc:
            why = COUNT_AGAIN.get(getattr(exc.orig, "sqlstate", None))
            if why is None or attempt == RECOUNT_ATTEMPTS:
                raise
            log.info("%s of level %s: %s meanwhile; counting again", what, level_id, why)


def recompute_for_season(
    level_id: int, district_id: int | None = None, *, statuses_only: bool = False
) -> None:
    """The level's counters (of one district's schools and wards, and the other schools its
    children list) from the applications, after a set-based write of the season (a round's
    results stored or published, expiries, the trial's wipe): one DELETE and one INSERT … SELECT,
    whatever the number of applications. `statuses_only`: the write changed statuses and seats
    only (a round stored or published, expiries), not which schools were chosen nor when, so the
    rows by hour stay as they are and only the rows keyed by status are counted again."""
    scopes = STATUS_SCOPES if statuses_only else None
    _one_recount_at_a_time(level_id)
    places = _places(level_id, district_id)
    delete = sa.delete(AdmissionCounter).where(*_stored(level_id, places, scopes))
    cols = ["admission_level_id", "scope", "scope_id", "is_trial", "status", "hour", *COLUMNS]
    insert = sa.insert(AdmissionCounter.__table__).from_select(cols, _counted(level_id, places, scopes))
    _rewritten("counters", level_id, delete, insert)


def level_ids() -> list[int]:
    return list(db.session.scalars(sa.select(Application.admission_level_id).distinct()))


def _as_dict(rows) -> dict[tuple, tuple]:
    out = {}
    for r in rows:
        key, cols = tuple(r[:6]), tuple(int(v or 0) for v in r[6:])
        if any(cols):
            out[(key[0], key[1], int(key[2]), bool(key[3]), key[4], key[5])] = cols
    return out


def drift(level_id: int, district_id: int | None = None) -> list[tuple[tuple, tuple, tuple]]:
    """(key, stored, counted) for every counter row that differs from a count from scratch."""
    t = AdmissionCounter
    places = _places(level_id, district_id)
    stored = _as_dict(
        db.session.execute(
            sa.select(
                t.admission_level_id,
                t.scope,
                t.scope_id,
                t.is_trial,
                t.status,
                t.hour,
                *(getattr(t, c) for c in COLUMNS),
            ).where(*_stored(level_id, places))
        )
    )
    counted = _as_dict(db.session.execute(_counted(level_id, places)))
    zero = (0,) * len(COLUMNS)
    return [
        (key, stored.get(key, zero), counted.get(key, zero))
        for key in sorted(set(stored) | set(counted), key=str)
        if stored.get(key, zero) != counted.get(key, zero)
    ]


def _live_marks(level_id: int) -> sa.Select:
    """What `roster_registration` should hold for a level: its live applications' roster entries."""
    a, k = Application.__table__, Child.__table__
    return (
        sa.select(a.c.admission_level_id, k.c.roster_entry_id, a.c.id)
        .join(k, k.c.id == a.c.child_id)
        .where(a.c.admission_level_id == level_id, a.c.status != "withdrawn")
    )


def _stored_marks(level_id: int) -> sa.Select:
    r = RosterRegistration.__table__
    return sa.select(r.c.admission_level_id, r.c.roster_entry_id, r.c.application_id).where(
        r.c.admission_level_id == level_id
    )


def mark_drift(level_id: int) -> tuple[int, int]:
    """The registration marks the database's triggers keep (counter_models.RosterRegistration)
    against the applications: (missing, extra) for a level. Both 0 unless a trigger was lost
    (e.g. a migration that rebuilt the application table without them)."""
    missing = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            _live_marks(level_id).except_(_stored_marks(level_id)).subquery()
        )
    )
    extra = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            _stored_marks(level_id).except_(_live_marks(level_id)).subquery()
        )
    )
    return int(missing or 0), int(extra or 0)


def rebuild_marks(level_id: int) -> None:
    """Write a level's registration marks again from its applications (an application submitted
    meanwhile, whose trigger adds its mark, makes it write them again: `_rewritten`)."""
    r = RosterRegistration.__table__
    cols = ["admission_level_id", "roster_entry_id", "application_id"]
    delete = sa.delete(r).where(r.c.admission_level_id == level_id)
    _rewritten("registration marks", level_id, delete, sa.insert(r).from_select(cols, _live_marks(level_id)))

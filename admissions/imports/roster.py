"""roster.xlsx, the residency export: upsert by personal ID (docs/excel-formats.md)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from app import xlsx
from app.extensions import db
from app.models import utcnow
from app.xlsx import CellError

from ..models import RosterEntry
from . import cells as v
from .places import Place, Places
from .reading import CHUNK, RowChecker, Sheet, bulk_insert, check_field, data_rows, in_scope, memoized
from .report import ImportReport


def check(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
    names = (
        "personal_id",
        "full_name",
        "date_of_birth",
        "gender",
        "district",
        "ward",
        "residential_group",
        "residence_type",
        "guardian_name",
        "guardian_phone",
    )
    seen: dict[str, int] = {}
    rows = []
    today = date.today()
    now = datetime.now()
    person_name = memoized(xlsx.person_name)
    # Place names repeat on every row: check each distinct name once.
    place_cache: dict[tuple, Place | None] = {}
    gender_of = memoized(xlsx.gender)  # a handful of spellings, checked once each
    residence_of = memoized(v.residence_type)
    for rownum, cells in data_rows(sheet, chk, names, prog):
        c_pid, c_name, c_dob, c_gender, c_district, c_ward, c_group, c_res, c_gname, c_phone = cells
        pid = check_field(chk, rownum, "personal_id", c_pid, v.personal_id, c_pid[1] if c_pid else "s")
        if pid is not None:
            first = seen.get(pid)
            if first is not None:
                chk.error(rownum, "personal_id", CellError("duplicate", first=first))
            else:
                seen[pid] = rownum
        full_name = check_field(chk, rownum, "full_name", c_name, person_name)
        if c_dob is not None and c_dob[0].__class__ is datetime and c_dob[0].year >= 1900 and c_dob[0] <= now:
            dob = c_dob[0].date()  # fast path: a date cell in range
        else:
            dob = check_field(
                chk, rownum, "date_of_birth", c_dob, xlsx.a_date, c_dob[1] if c_dob else "s", today=today
            )
        gender = check_field(chk, rownum, "gender", c_gender, gender_of)
        residence = check_field(chk, rownum, "residence_type", c_res, residence_of)
        guardian = check_field(chk, rownum, "guardian_name", c_gname, person_name)
        phone = check_field(
            chk, rownum, "guardian_phone", c_phone, xlsx.phone, c_phone[1] if c_phone else "s", required=False
        )
        if pid is not None and gender is not None and dob is not None:
            mismatch = v.personal_id_problem(pid, gender, dob)
            if mismatch is not None:
                chk.error(rownum, "personal_id", mismatch)

        # Places: district → ward → group, each distinct spelling checked once.
        pkey = (
            c_district and c_district[0],
            c_ward and c_ward[0],
            c_group and c_group[0],
            c_district and c_district[1],
            c_ward and c_ward[1],
            c_group and c_group[1],
        )
        if pkey in place_cache:
            ward, group, place_error = place_cache[pkey]
        else:
            ward, group, place_error = _roster_places(places, scope, c_district, c_ward, c_group)
            place_cache[pkey] = (ward, group, place_error)
        if place_error:
            for name, err in place_error:
                chk.error(rownum, name, err)
        rows.append((rownum, pid, full_name, dob, gender, ward, group, residence, guardian, phone))
    return rows


def _roster_places(places: Places, scope, c_district, c_ward, c_group):
    errors = []

    def check(name, cell, required):
        if cell is None:
            if required:
                errors.append((name, CellError("required")))
            return None
        try:
            xlsx.check_cell(*cell)
            return xlsx.text(cell[0], max_len=120)
        except CellError as err:
            errors.append((name, err))
            return None

    d_name, w_name, g_name = (
        check("district", c_district, True),
        check("ward", c_ward, True),
        check("residential_group", c_group, False),
    )
    ward = group = None
    if d_name is not None:
        district = places.resolve("district", d_name, None)
        if not in_scope(district, scope):
            errors.append(("district", CellError("other_district")))
        elif w_name is not None:
            ward = places.resolve("ward", w_name, district)
            if g_name is not None:
                group = places.resolve("group", g_name, ward)
    return ward, group, errors


def store(sheet: Sheet, rows: list, report: ImportReport, places: Places, scope, chk: RowChecker) -> bool:
    """Write the roster; returns False (and records problems) if an existing entry is out of scope."""
    present = set(sheet.index)
    table = RosterEntry.__table__
    existing: dict[str, tuple] = {}
    pids = [r[1] for r in rows]
    cols = (
        table.c.personal_id,
        table.c.id,
        table.c.full_name,
        table.c.date_of_birth,
        table.c.gender,
        table.c.ward_id,
        table.c.residential_group_id,
        table.c.residence_type,
        table.c.guardian_name,
        table.c.guardian_phone,
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    if total <= 2 * len(pids):
        wanted = set(pids)
        for r in db.session.execute(sa.select(*cols)):
            if r[0] in wanted:
                existing[r[0]] = tuple(r)
    else:
        for start in range(0, len(pids), 2000):
            batch = pids[start : start + 2000]
            for r in db.session.execute(sa.select(*cols).where(table.c.personal_id.in_(batch))):
                existing[r[0]] = tuple(r)

    if scope is not None and existing:
        bad = False
        for rownum, pid, *_ in rows:
            old = existing.get(pid)
            if old is not None and places.ward_district.get(old[5]) != scope:
                chk.error(rownum, "personal_id", CellError("roster_other_district"))
                bad = True
        if bad:
            return False

    places.create_pending()
    now = utcnow()
    keep_group = "residential_group" in present
    keep_phone = "guardian_phone" in present
    inserts, updates = [], []
    for _rownum, pid, full_name, dob, gender, ward, group, residence, guardian, phone in rows:
        group_id = group.id if group is not None else None
        old = existing.get(pid)
        if old is None:
            inserts.append(
                {
                    "personal_id": pid,
                    "full_name": full_name,
                    "date_of_birth": dob,
                    "gender": gender,
                    "ward_id": ward.id,
                    "residential_group_id": group_id,
                    "residence_type": residence,
                    "guardian_name": guardian,
                    "guardian_phone": phone,
                    "imported_at": now,
                }
            )
            continue
        if not keep_group:
            group_id = old[6]
        if not keep_phone:
            phone = old[9]
        new = (full_name, dob, gender, ward.id, group_id, residence, guardian, phone)
        if new == old[2:]:
            report.unchanged += 1
        else:
            updates.append(
                {
                    "b_id": old[1],
                    "full_name": full_name,
                    "date_of_birth": dob,
                    "gender": gender,
                    "ward_id": ward.id,
                    "residential_group_id": group_id,
                    "residence_type": residence,
                    "guardian_name": guardian,
                    "guardian_phone": phone,
                    "imported_at": now,
                }
            )
    bulk_insert(table, inserts)
    if updates:
        stmt = (
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(k) for k in updates[0] if k != "b_id"})
        )
        for start in range(0, len(updates), CHUNK):
            db.session.execute(stmt, updates[start : start + CHUNK])
    report.created, report.updated = len(inserts), len(updates)
    return True

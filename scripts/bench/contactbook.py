#!/usr/bin/env python
"""Benchmark: the contact book on PostgreSQL with a big school.

    .venv/bin/python scripts/bench/contactbook.py [--pupils 2000] [--requests 200] [--filler-rows 350000]

Needs PostgreSQL (DATABASE_URL names the server; default postgresql+psycopg://postgres@127.0.0.1:5432)
and uses Redis (REDIS_URL, default redis://127.0.0.1:6379/0) only as the job queue, on a private
queue that is deleted at the end (so a request never runs notification jobs in-process, as in
production). The script
1. creates a scratch database (dropped at the end) and migrates it;
2. loads one lower-secondary school: --pupils pupils in 4 grades × 12 classes, the 13 standard
   subjects per grade with Circular 22 assessment counts, one teacher per subject and grade,
   1–2 guardians per pupil, and a full school year of published grades (terms I and II) —
   plus --filler-rows grade rows of another school so that the table holds ~600k rows;
3. measures server time (the WSGI call in-process: routing, session, queries, template; no
   network) of logged-in requests:
   - the grade book page (a random class × subject of a teacher, term II: term average and
     year average columns), target p95 ≤ 50 ms;
   - a parent's child page (a random guardian's child, term II), target p95 ≤ 50 ms;
   - publishing a class's grades (the grade book form's "Save and publish" with every grade of
     the class × subject × term in draft), target ≤ 200 ms (p95 over the runs);
4. prints the figures, the query count per page, and MET/MISSED per target.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from redis import Redis

ROOT = Path(os.path.abspath(__file__)).parents[2]
sys.path.insert(0, str(ROOT))

from _scratch import scratch_postgres  # noqa: E402 - after the path set-up

# ROOT comes first on the path: `contactbook` below is the package, not this file.
from app import create_app  # noqa: E402 - after the path set-up
from app.auth.services import passwords  # noqa: E402 - after the path set-up
from app.extensions import db  # noqa: E402 - after the path set-up
from app.models import AcademicYear, District, Role, School, User, utcnow  # noqa: E402 - after the path set-up
from contactbook.catalog import standard_subjects  # noqa: E402 - after the path set-up
from contactbook.classes import standard_subject  # noqa: E402 - after the path set-up
from contactbook.models import Enrolment, Grade, Pupil, SchoolClass, Subject, TeachingAssignment  # noqa: E402 - after the path set-up
from contactbook.years import ensure_terms  # noqa: E402 - after the path set-up
from tests.querycount import count_queries  # noqa: E402 - after the path set-up

PASSWORD = "bench password for everyone"  # noqa: S105 - scratch database
TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def copy_rows(db, table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples) into a table; returns the count."""
    raw = db.session.connection().connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def load(app, args) -> dict:
    rng = random.Random(2026)  # noqa: S311 - benchmark data
    started = time.perf_counter()
    year = AcademicYear(
        name="2026-2027", starts_on=date(2026, 9, 5), ends_on=date(2027, 5, 31), is_current=True
    )
    district = District(code="BENCH", name="Quận Bench")
    db.session.add_all([year, district])
    db.session.flush()
    school = School(code="THCS-BENCH", name="Trường THCS Bench", level="grade6", district_id=district.id)
    other = School(code="THCS-OTHER", name="Trường THCS Khác", level="grade6", district_id=district.id)
    db.session.add_all([school, other])
    db.session.flush()
    terms = ensure_terms(school, year)
    other_terms = ensure_terms(other, year)
    pw = passwords().hash(PASSWORD)
    now = utcnow()

    grades = list(range(6, 10))
    classes_per_grade = 12
    per_class = -(-args.pupils // (len(grades) * classes_per_grade))

    def add_subjects(school_id: int) -> dict[int, list[Subject]]:
        """The standard subjects of every benchmarked grade at the school, by grade."""
        by_grade = {
            g: [standard_subject(school_id, g, s, pos) for pos, s in enumerate(standard_subjects(g))]
            for g in grades
        }
        db.session.add_all([subj for subjects in by_grade.values() for subj in subjects])
        db.session.flush()
        return by_grade

    subjects = add_subjects(school.id)
    teachers: dict[tuple[int, int], User] = {}
    for g in grades:
        for subj in subjects[g]:
            t = User(
                email=f"gv.{g}.{subj.id}@bench.edu.vn",
                full_name=f"Giáo Viên {subj.id}",
                role=Role.TEACHER,
                school_id=school.id,
                password_hash=pw,
            )
            db.session.add(t)
            teachers[(g, subj.id)] = t
    db.session.flush()

    classes: list[SchoolClass] = []
    for g in grades:
        for c in range(classes_per_grade):
            cls = SchoolClass(
                school_id=school.id,
                academic_year_id=year.id,
                grade=g,
                name=f"{g}A{c + 1}",
                homeroom_teacher_id=teachers[(g, subjects[g][c % len(subjects[g])].id)].id,
            )
            db.session.add(cls)
            classes.append(cls)
    db.session.flush()
    db.session.execute(
        sa.insert(TeachingAssignment),
        [
            {"class_id": cls.id, "subject_id": subj.id, "teacher_id": teachers[(cls.grade, subj.id)].id}
            for cls in classes
            for subj in subjects[cls.grade]
        ],
    )

    pupil_rows, n = [], 0
    for cls in classes:
        for _ in range(per_class):
            if n >= args.pupils:
                break
            n += 1
            pupil_rows.append(
                (
                    school.id,
                    f"HS{n:06d}",
                    f"Học Sinh {n}",
                    date(2014 - (cls.grade - 6), 1, 1 + n % 28),
                    "female" if n % 2 else "male",
                    cls.id,
                )
            )
    copy_rows(
        db,
        "cb_pupil",
        ["school_id", "pupil_code", "full_name", "date_of_birth", "gender"],
        (r[:5] for r in pupil_rows),
    )
    pupil_ids = dict(
        db.session.execute(sa.select(Pupil.pupil_code, Pupil.id).where(Pupil.school_id == school.id)).all()
    )
    class_of = {pupil_ids[r[1]]: r[5] for r in pupil_rows}
    copy_rows(
        db,
        "cb_enrolment",
        ["pupil_id", "class_id", "academic_year_id"],
        ((pid, cid, year.id) for pid, cid in class_of.items()),
    )

    guardian_rows = []
    links = []
    phone = 900000000
    for pid in class_of:
        for _ in range(1 if rng.random() < 0.6 else 2):
            phone += 1
            guardian_rows.append((f"0{phone}", f"Phụ Huynh {phone}", Role.PARENT.value, pw, True, now, now))
            links.append((pid, f"0{phone}"))
    # Proven phones: an account whose phone is unproven sees no child until it enters a code.
    columns = ["phone", "full_name", "role", "password_hash", "active", "created_at", "phone_verified_at"]
    copy_rows(db, "user", columns, guardian_rows)
    user_ids = dict(db.session.execute(sa.select(User.phone, User.id).where(User.role == Role.PARENT)).all())
    copy_rows(
        db,
        "cb_guardian",
        ["pupil_id", "user_id", "created_at"],
        ((pid, user_ids[ph], now) for pid, ph in links),
    )

    def grade_rows(pids_by_grade, term_list, subjects_by_grade, limit=None):
        count = 0
        for g, pids in pids_by_grade.items():
            for subj in subjects_by_grade[g]:
                for pid in pids:
                    for term in term_list:
                        base = rng.uniform(5, 9.5)
                        kinds = [("regular", i) for i in range(1, subj.regular_count + 1)] + [
                            ("midterm", 1),
                            ("endterm", 1),
                        ]
                        for kind, seq in kinds:
                            if subj.assessment == "comment":
                                score, mark = None, "D" if rng.random() < 0.95 else "CD"
                            else:
                                score, mark = round(min(10, max(0, rng.gauss(base, 1.2))) * 2) / 2, None
                            yield (
                                pid,
                                subj.id,
                                term.id,
                                kind,
                                seq,
                                score,
                                mark,
                                "published",
                                now,
                                False,
                                now,
                            )
                            count += 1
                            if limit is not None and count >= limit:
                                return

    cols = [
        "pupil_id",
        "subject_id",
        "term_id",
        "kind",
        "seq",
        "score",
        "mark",
        "status",
        "published_at",
        "changed_after_publish",
        "updated_at",
    ]
    by_grade: dict[int, list[int]] = {}
    cls_grade = {c.id: c.grade for c in classes}
    for pid, cid in class_of.items():
        by_grade.setdefault(cls_grade[cid], []).append(pid)
    school_rows = copy_rows(db, "cb_grade", cols, grade_rows(by_grade, terms, subjects))

    filler = 0
    if args.filler_rows:
        other_subjects = add_subjects(other.id)
        other_pupils = []
        for i in range(args.pupils * 2):
            other_pupils.append((other.id, f"OT{i:06d}", f"Học Sinh Khác {i}", date(2013, 1, 1), "male"))
        copy_rows(
            db, "cb_pupil", ["school_id", "pupil_code", "full_name", "date_of_birth", "gender"], other_pupils
        )
        ids = list(db.session.scalars(sa.select(Pupil.id).where(Pupil.school_id == other.id)))
        per = len(ids) // len(grades)
        other_by_grade = {g: ids[i * per : (i + 1) * per] for i, g in enumerate(grades)}
        filler = copy_rows(
            db,
            "cb_grade",
            cols,
            grade_rows(other_by_grade, other_terms, other_subjects, limit=args.filler_rows),
        )
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return {
        "school": school,
        "year": year,
        "terms": terms,
        "classes": classes,
        "subjects": subjects,
        "teachers": teachers,
        "class_of": class_of,
        "links": links,
        "user_ids": user_ids,
        "school_rows": school_rows,
        "filler_rows": filler,
        "seconds": time.perf_counter() - started,
    }


class Session:
    """A logged-in test client (real login form, real CSRF token). Each request runs in its own
    app context, as in production (else `g`, and the logged-in user cached there, would leak)."""

    def __init__(self, app, login: str):
        self.app = app
        self.client = app.test_client()
        resp = self._open("GET", "/auth/login")
        token = TOKEN.search(resp.get_data(as_text=True)).group(1)
        resp = self._open(
            "POST", "/auth/login", data={"csrf_token": token, "login": login, "password": PASSWORD}
        )
        assert resp.status_code == 302, f"login failed for {login}: {resp.status_code}"
        # Login starts a fresh session: take the CSRF token of the new one.
        self.token = TOKEN.search(self._open("GET", "/auth/password").get_data(as_text=True)).group(1)

    def _open(self, method, url, **kw):
        with self.app.app_context():
            return self.client.open(url, method=method, **kw)

    cpu: list[float] = []  # CPU time of this process per timed request (ms), in call order

    def timed(self, method: str, url: str, **kw) -> tuple[float, int, str]:
        with self.app.app_context():
            started, cpu = time.perf_counter(), time.process_time()
            resp = self.client.open(url, method=method, **kw)
            body = resp.get_data(as_text=True)
            Session.cpu.append((time.process_time() - cpu) * 1000)
            return (time.perf_counter() - started) * 1000, resp.status_code, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--publishes", type=int, default=40)
    parser.add_argument(
        "--filler-rows",
        type=int,
        default=350_000,
        help="grade rows of another school, so the table is realistically big",
    )
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if not server.startswith(("postgres://", "postgresql")):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    url, _name, drop = scratch_postgres(server, "tsll_bench_cb")
    queue = f"bench-cb-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("INSTANCE_PATH", f"/tmp/{queue}")
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "SESSION_COOKIE_SECURE": False,
                "REDIS_URL": redis_url,
                "RATELIMIT_STORAGE_URI": "memory://",
                "JOB_QUEUE": queue,
                "LOGIN_LIMIT_PER_IP": "100000/minute",
                "LOGIN_LIMIT_PER_ACCOUNT": "100000/minute",
                "ARGON2_TIME_COST": 1,
                "ARGON2_MEMORY_COST": 1024,
                "PREFERRED_URL_SCHEME": "http",
            }
        )
        with app.app_context():
            upgrade()
            data = load(app, args)
            print(
                f"data: {args.pupils} pupils, {len(data['classes'])} classes, "
                f"{sum(len(v) for v in data['subjects'].values())} subjects, {len(data['links'])} guardian links; "
                f"grade rows: school {data['school_rows']:,}, other school {data['filler_rows']:,}, "
                f"table {data['school_rows'] + data['filler_rows']:,} (loaded in {data['seconds']:.1f} s)"
            )
            result = measure(app, data, args)
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        try:
            conn = Redis.from_url(redis_url)
            for key in conn.scan_iter(f"*{queue}*"):
                conn.delete(key)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
        drop()


def measure(app, data, args) -> int:
    rng = random.Random(7)  # noqa: S311
    term1, term2 = data["terms"]
    classes = data["classes"]
    ok = True

    # Grade book: teachers of random class × subject, term II.
    sessions: dict[int, Session] = {}

    def teacher_session(teacher):
        if teacher.id not in sessions:
            sessions[teacher.id] = Session(app, teacher.email)
        return sessions[teacher.id]

    book_urls = []
    for _ in range(args.requests):
        cls = rng.choice(classes)
        subj = rng.choice(data["subjects"][cls.grade])
        book_urls.append(
            (
                data["teachers"][(cls.grade, subj.id)],
                f"/contactbook/classes/{cls.id}/grades/{subj.id}?term={term2.id}",
            )
        )
    for teacher, url in book_urls[:5]:  # warm-up
        teacher_session(teacher).timed("GET", url)
    times = []
    Session.cpu.clear()
    for teacher, url in book_urls:
        ms, status, body = teacher_session(teacher).timed("GET", url)
        assert status == 200, (url, status)
        times.append(ms)
    teacher, url = book_urls[0]
    with count_queries(app) as counter:
        teacher_session(teacher).timed("GET", url)
    p95 = percentile(times, 95)
    ok &= report("grade book page (class × subject, term II)", times, p95, 50, counter.count)

    # Parent child page.
    parents = rng.sample(data["links"], min(60, len(data["links"])))
    psessions = [(Session(app, phone), pid) for pid, phone in parents]
    times = []
    Session.cpu.clear()
    for i in range(args.requests):
        s, pid = psessions[i % len(psessions)]
        ms, status, body = s.timed("GET", f"/contactbook/children/{pid}?term={term2.id}")
        assert status == 200, status
        times.append(ms)
    s, pid = psessions[0]
    with count_queries(app) as counter:
        s.timed("GET", f"/contactbook/children/{pid}?term={term2.id}")
    p95 = percentile(times, 95)
    ok &= report("parent child page (term II)", times, p95, 50, counter.count)

    # Publishing: put a class × subject × term back to draft, then "Save and publish".
    times, published = [], []
    Session.cpu.clear()
    for _ in range(args.publishes):
        cls = rng.choice(classes)
        subj = rng.choice(data["subjects"][cls.grade])
        term = rng.choice([term1, term2])
        pupils = sa.select(Enrolment.pupil_id).where(Enrolment.class_id == cls.id)
        n = db.session.execute(
            sa.update(Grade)
            .where(Grade.subject_id == subj.id, Grade.term_id == term.id, Grade.pupil_id.in_(pupils))
            .values(status="draft", published_at=None)
        ).rowcount
        db.session.commit()
        s = teacher_session(data["teachers"][(cls.grade, subj.id)])
        url = f"/contactbook/classes/{cls.id}/grades/{subj.id}?term={term.id}"
        ms, status, _ = s.timed("POST", url, data={"csrf_token": s.token, "action": "publish"})
        assert status == 302, (url, status)
        left = db.session.scalar(
            sa.select(sa.func.count(Grade.id)).where(
                Grade.subject_id == subj.id,
                Grade.term_id == term.id,
                Grade.status == "draft",
                Grade.pupil_id.in_(pupils),
            )
        )
        assert left == 0
        times.append(ms)
        published.append(n)
    p95 = percentile(times, 95)
    print(f"  (each publish: {min(published)}–{max(published)} grades of one class × subject × term)")
    ok &= report("publish a class's grades (POST, save and publish)", times, p95, 200, None)
    return 0 if ok else 1


def report(name: str, times: list[float], p95: float, target: float, queries: int | None) -> bool:
    """Wall-clock server time is what the target is about; the CPU time of this process (the
    app's Python work, without the database's) is printed beside it because it hardly moves
    when other programs load the machine."""
    met = p95 <= target
    q = f", {queries} queries" if queries is not None else ""
    cpu = Session.cpu[: len(times)]
    c = f"; app CPU median {statistics.median(cpu):.1f} ms, p95 {percentile(cpu, 95):.1f} ms" if cpu else ""
    print(
        f"{name}: n={len(times)} median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(times):.1f} ms{q}{c} — target p95 ≤ {target:.0f} ms: {'MET' if met else 'MISSED'}"
    )
    return met


if __name__ == "__main__":
    sys.exit(main())

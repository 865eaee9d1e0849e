"""Excel imports through the web (docs/excel-formats.md): upload with progress, the report, who
may upload and see a job, the job's own connection, hostile files, query counts, stale uploads."""

from __future__ import annotations

import io
import os
import re
import time
import uuid
import zipfile

import openpyxl
import sqlalchemy as sa

from admissions.imports import reading
from admissions.models import RosterEntry
from app import jobs
from app.imports import runner as tasks
from app.imports import upload_dir
from app.models import AuditLog, ImportJob, School
from tests.admissions_import_cases import (
    EN,
    SCHOOL_ROWS,
    VI,
    count,
    english,
    good_roster,
    problems,
    roster_row,
    run,
    upload,
    xlsx,
)
from tests.factories import create_district, create_school, create_user

# --------------------------------------------------------------------------- web


def test_web_upload_as_district_officer(app, db, client, run_jobs, caugiay):
    other = create_district(name="Quận Ba Đình")
    officer = create_user("district_officer", district=caugiay)
    jobs.commit()
    district_id, officer_id, other_name = (
        caugiay.id,
        officer.id,
        other.name,
    )  # a worker's run detaches objects
    client.login_as(officer)
    english(client)
    page = client.get("/admissions/imports")
    assert page.status_code == 200
    assert "/admissions/imports/template?kind=roster" in page.get_data(as_text=True)

    resp = upload(client, "roster", xlsx("roster", VI["roster"], good_roster(4)), "danh sách.xlsx")
    assert resp.status_code == 302
    run_jobs()
    job = db.session.scalar(sa.select(ImportJob))
    assert (job.status, job.progress, job.created_count, job.district_id, job.user_id) == (
        "done",
        100,
        4,
        district_id,
        officer_id,
    )
    assert job.filename == "danh sách.xlsx"
    status = client.get(resp.headers["Location"])
    assert status.status_code == 200
    assert "created 4, updated 0, unchanged 0" in status.get_data(as_text=True)
    data = client.get(f"/admissions/imports/{job.id}/status").get_json()
    assert data["status"] == "done" and data["final"] and data["progress"] == 100
    assert count(db, RosterEntry) == 4

    # Rows of another district are refused; nothing stored; the report is shown row by row.
    rows = good_roster(3)
    rows[1][4] = other_name
    resp = upload(client, "roster", xlsx("roster", VI["roster"], rows))
    run_jobs()
    job2 = db.session.scalar(sa.select(ImportJob).order_by(ImportJob.id.desc()))
    assert job2.status == "rejected" and job2.problem_count == 1
    html = client.get(f"/admissions/imports/{job2.id}").get_data(as_text=True)
    assert "row 3, column Quận/Huyện: you may import only rows of your own district" in html
    assert count(db, RosterEntry) == 4
    assert "(1 problem)" in client.get("/admissions/imports").get_data(as_text=True)  # singular in English

    # Uploaded files are removed once processed.

    assert os.listdir(upload_dir()) == []

    audits = db.session.execute(
        sa.select(AuditLog.action, AuditLog.details)
        .where(AuditLog.action.like("admissions.import.%"))
        .order_by(AuditLog.id)
    ).all()
    assert [a for a, _ in audits] == [
        "admissions.import.upload",
        "admissions.import.done",
        "admissions.import.upload",
        "admissions.import.rejected",
    ]
    assert audits[1][1]["created"] == 4 and "001320000000" not in str(audits)


def test_web_report_is_capped(app, db, client, run_jobs, caugiay):
    officer = create_user("city_admin")
    jobs.commit()
    client.login_as(officer)
    english(client)
    rows = [roster_row(pid=f"00132{i:07d}", phone="12") for i in range(260)]
    resp = upload(client, "roster", xlsx("roster", EN["roster"], rows))
    assert resp.status_code == 302
    run_jobs()
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert html.count("<li>row ") == 200
    assert "and 60 more problems" in html


def test_web_form_errors_are_422(app, db, client, caugiay):
    client.login_as(create_user("city_admin"))
    english(client)
    resp = upload(client, "schools", b"hello", "schools.csv")
    assert resp.status_code == 422
    assert "Upload an .xlsx file" in resp.get_data(as_text=True)
    resp = upload(client, "schools", b"hello, not a zip", "schools.xlsx")
    assert resp.status_code == 422
    assert "This is not an Excel .xlsx file." in resp.get_data(as_text=True)
    assert upload(client, "nonsense", b"x").status_code == 404
    assert count(db, ImportJob) == 0


def test_web_teacher_and_parent_are_refused(app, db, make_client, caugiay):
    school = create_school(caugiay)
    for user in (
        create_user("teacher", school=school),
        create_user("school_staff", school=school),
        create_user("parent"),
    ):
        jobs.commit()
        client = make_client()
        client.login_as(user)
        assert client.get("/admissions/imports").status_code == 403
        assert client.get("/admissions/imports/template?kind=roster").status_code == 403
        assert upload(client, "roster", xlsx("roster", EN["roster"], [roster_row()])).status_code in (
            400,
            403,
        )
    assert count(db, ImportJob) == 0 and count(db, RosterEntry) == 0


def test_status_is_scoped_to_the_importers_district(app, db, make_client, caugiay):
    other = create_district(name="Quận Ba Đình")
    mine = create_user("district_officer", district=caugiay)
    colleague = create_user("district_officer", district=caugiay)
    foreign = create_user("district_officer", district=other)
    admin = create_user("city_admin")
    jobs.commit()
    c = make_client()
    c.login_as(mine)
    resp = upload(c, "schools", xlsx("schools", EN["schools"], SCHOOL_ROWS[:1]))
    job_url = resp.headers["Location"]
    for user, expected in ((mine, 200), (colleague, 200), (admin, 200), (foreign, 404)):
        client = make_client()
        client.login_as(user)
        assert client.get(job_url).status_code == expected, user.role
        assert client.get(job_url + "/status").status_code == expected
    # The city's own imports are not shown to district officers.
    ca = make_client()
    ca.login_as(admin)
    city_job = upload(ca, "schools", xlsx("schools", EN["schools"], SCHOOL_ROWS[1:2])).headers["Location"]
    c2 = make_client()
    c2.login_as(mine)
    assert c2.get(city_job).status_code == 404
    listing = c2.get("/admissions/imports").get_data(as_text=True)
    assert job_url in listing and city_job not in listing


def test_template_download(app, db, client):
    client.login_as(create_user("city_admin"))
    resp = client.get("/admissions/imports/template?kind=catchments")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "catchments.xlsx" in resp.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["catchments"]
    assert client.get("/admissions/imports/template?kind=other").status_code == 404


def test_status_page_polls_with_external_script(app, db, client):
    admin = create_user("city_admin")
    job = ImportJob(kind="roster", status="running", progress=40, file_token="a" * 32, user_id=admin.id)
    db.session.add(job)
    jobs.commit()
    client.login_as(admin)
    html = client.get(f"/admissions/imports/{job.id}").get_data(as_text=True)
    assert f'data-status-url="/admissions/imports/{job.id}/status"' in html
    assert '<progress id="import-progress-bar" max="100" value="40">' in html
    assert "/static/js/progress.js" in html and "onclick" not in html
    data = client.get(f"/admissions/imports/{job.id}/status").get_json()
    assert (data["status"], data["progress"], data["final"]) == ("running", 40, False)


def test_job_records_progress_on_its_own_connection(app, db, caugiay, monkeypatch, run_jobs):
    """run_import moves status/progress while reading (visible to pollers before the job commits),
    then stores counts and report; the uploaded file is removed after the commit."""

    seen = []
    real_set_status = tasks._set_status

    def spy(job_id, **values):
        real_set_status(job_id, **values)
        with db.engine.connect() as conn:  # what a poller on another connection sees now
            seen.append(
                tuple(
                    conn.execute(
                        sa.select(ImportJob.status, ImportJob.progress).where(ImportJob.id == job_id)
                    ).one()
                )
            )

    monkeypatch.setattr(tasks, "_set_status", spy)
    monkeypatch.setattr(
        reading.Progress, "tick", lambda self, done: self.fn("reading", self.sheet.fraction_read())
    )
    token = uuid.uuid4().hex
    os.makedirs(tasks.upload_dir(), exist_ok=True)
    with open(tasks.upload_path(token), "wb") as fh:
        fh.write(xlsx("roster", EN["roster"], good_roster(3000)))
    job = ImportJob(kind="roster", file_token=token, district_id=caugiay.id)
    db.session.add(job)
    jobs.commit()
    job_id = job.id

    jobs.run_job("app.imports.runner:run_import", [job_id], {})

    assert seen[0] == ("running", 1)
    running = [p for s, p in seen if s == "running"]
    assert len(running) >= 3 and running == sorted(running) and 1 < running[-1] <= 90
    assert ("saving", 95) in seen
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.progress, job.rows, job.created_count) == ("done", 100, 3000, 3000)
    assert job.started_at is not None and job.finished_at >= job.started_at
    run_jobs()  # with Redis, the file removal is a job of its own
    assert not os.path.exists(tasks.upload_path(token))
    # Running the job again (e.g. an RQ retry, or a job queued under the path it had before the
    # runner moved to the platform) changes nothing.
    jobs.run_job("admissions.tasks:run_import", [job_id], {})
    assert count(db, RosterEntry) == 3000


def test_entity_expansion_bomb_is_rejected_quickly(db, caugiay):
    """A workbook whose sheet XML hides a 'billion laughs' entity bomb is refused as unreadable."""

    plain = xlsx("roster", EN["roster"], [roster_row(name="BOMB")])
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    src = zipfile.ZipFile(io.BytesIO(plain))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = re.sub(r"^<\?xml[^>]*\?>", "", data.decode())
                text = f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>' + text
                data = text.replace("BOMB", "&lol9;").encode()
            dst.writestr(item, data)
    started = time.monotonic()
    report = run("roster", out.getvalue())
    assert problems(report) == [(None, None, "not_xlsx")]
    assert time.monotonic() - started < 20
    assert count(db, RosterEntry) == 0


def test_district_officer_scope_for_schools_and_catchments(db, caugiay):
    other = create_district(name="Quận Ba Đình")
    theirs = create_school(other, code="TH-BADINH")
    jobs.commit()
    other_id, other_name = other.id, other.name
    # A school of another district cannot be moved into mine, nor imported into theirs.
    rows = [
        ["TH-BADINH", "Trường Ba Đình", "grade1", "Quận Cầu Giấy", None, None, 10, None, None],
        ["TH-NEW", "Trường Mới", "grade1", other_name, None, None, 10, None, None],
        ["TH-MINE", "Trường Của Tôi", "grade1", "Cầu Giấy", None, None, 10, None, None],
    ]
    report = run("schools", xlsx("schools", EN["schools"], rows), scope=caugiay.id)
    assert problems(report) == [
        (2, "school_code", "school_other_district"),
        (3, "district", "other_district"),
    ]
    assert db.session.get(School, theirs.id).district_id == other_id
    # Catchment lines of another district's school, or in another district's wards, are refused.
    create_school(caugiay, code="TH-MINE")
    jobs.commit()
    lines = [
        ["TH-BADINH", "Quận Cầu Giấy", "Dịch Vọng", None],
        ["TH-MINE", other_name, "Phúc Xá", None],
        ["TH-MINE", "Quận Cầu Giấy", "Dịch Vọng", None],
    ]
    report = run("catchments", xlsx("catchments", EN["catchments"], lines), scope=caugiay.id)
    assert problems(report) == [
        (2, "school_code", "school_other_district"),
        (3, "district", "other_district"),
    ]
    assert run("catchments", xlsx("catchments", EN["catchments"], lines[2:]), scope=caugiay.id).created == 1


def test_imports_page_queries_do_not_grow_with_jobs(app, db, client, caugiay):
    officer = create_user("district_officer", district=caugiay)
    jobs.commit()
    client.login_as(officer)

    def queries_for_page():
        n = {"q": 0}

        def counter(*args):
            n["q"] += 1

        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            assert client.get("/admissions/imports").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)
        return n["q"]

    def add_jobs(k, start):
        for i in range(k):
            db.session.add(
                ImportJob(
                    kind="roster",
                    status="done",
                    file_token=f"{start + i:032x}",
                    user_id=officer.id,
                    district_id=caugiay.id,
                )
            )
        jobs.commit()

    add_jobs(1, 0)
    few = queries_for_page()
    add_jobs(15, 100)
    many = queries_for_page()
    assert many == few, (few, many)


def test_stale_uploads_are_removed(app):

    os.makedirs(tasks.upload_dir(), exist_ok=True)
    old, fresh = tasks.upload_path("c" * 32), tasks.upload_path("d" * 32)
    for path in (old, fresh):
        with open(path, "wb") as fh:
            fh.write(b"x")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert tasks.remove_stale_uploads() == 1
    assert not os.path.exists(old) and os.path.exists(fresh)
    os.remove(fresh)

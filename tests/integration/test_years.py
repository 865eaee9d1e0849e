"""Academic years: the city administrator creates a year and sets the current
one, on the pages and by `flask --app app years …`; switching is audited and keeps the records of
the other years."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AcademicYear, AuditLog
from app.years import current_year, default_term2_start
from contactbook.models import SchoolClass
from contactbook.years import current_year as contactbook_year
from contactbook.years import default_term_dates
from tests.factories import create_district, create_school, create_user


def _years():
    db.session.expire_all()
    return {y.name: y for y in db.session.scalars(sa.select(AcademicYear))}


def _audits(action):
    return list(
        db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
    )


def test_cli_creates_years_and_sets_the_current_one(app, runner):
    result = runner.invoke(
        args=["years", "create", "2027-2028", "--start", "2027-09-05", "--end", "2028-05-31", "--current"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "created academic year 2027-2028 2027-09-05..2028-05-31, term II from 2028-01-16, current"
    )
    result = runner.invoke(
        args=[
            "years",
            "create",
            "2028-2029",
            "--start",
            "2028-09-05",
            "--end",
            "2029-05-31",
            "--term2-start",
            "2029-01-08",
        ]
    )
    assert result.exit_code == 0, result.output
    years = _years()
    assert years["2027-2028"].is_current and not years["2028-2029"].is_current
    assert years["2028-2029"].term2_starts_on == date(2029, 1, 8)
    assert current_year().name == "2027-2028" == contactbook_year().name

    result = runner.invoke(args=["years", "set-current", "2028-2029"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "current academic year: 2028-2029"
    assert runner.invoke(args=["years", "set-current", "2028-2029"]).stdout.strip().endswith("(unchanged)")
    years = _years()
    assert years["2028-2029"].is_current and not years["2027-2028"].is_current
    switches = _audits("year.set_current")
    assert [(s.target_id, s.details["previous_year_id"]) for s in switches] == [
        (str(years["2027-2028"].id), None),
        (str(years["2028-2029"].id), years["2027-2028"].id),
    ]
    assert len(_audits("year.create")) == 2

    listing = runner.invoke(args=["years", "list"]).stdout.splitlines()
    assert listing[0].startswith("* 2028-2029") and listing[1].startswith("  2027-2028")


def test_cli_refuses_bad_years_and_stores_nothing(app, runner):
    def create(*args):
        return runner.invoke(args=["years", "create", *args])

    cases = {
        ("2027-2029", "--start", "2027-09-05", "--end", "2029-05-31"): "bad_name",
        ("2027", "--start", "2027-09-05", "--end", "2028-05-31"): "bad_name",
        ("2027-2028", "--start", "2026-09-05", "--end", "2028-05-31"): "start_outside",
        ("2027-2028", "--start", "2027-09-05", "--end", "2029-05-31"): "end_outside",
        ("2027-2028", "--start", "2027-12-05", "--end", "2028-12-31"): "bad_dates",
        (
            "2027-2028",
            "--start",
            "2027-09-05",
            "--end",
            "2028-05-31",
            "--term2-start",
            "2028-06-01",
        ): "bad_term",
    }
    for args, code in cases.items():
        result = create(*args)
        assert result.exit_code == 2 and f"Error: {code}" in result.stderr, (args, result.output)
    assert create("2027-2028", "--start", "2027-09-05", "--end", "2028-05-31").exit_code == 0
    again = create("2027-2028", "--start", "2027-09-05", "--end", "2028-05-31")
    assert again.exit_code == 2 and "Error: name_taken" in again.stderr
    unknown = runner.invoke(args=["years", "set-current", "2030-2031"])
    assert unknown.exit_code == 2 and "Error: unknown_year" in unknown.stderr
    assert list(_years()) == ["2027-2028"]
    assert create("2027-2028", "--start", "2027-09-05").exit_code == 2  # --end is required


def test_admin_creates_a_year_on_the_page_and_switches(app, make_client):
    admin = create_user("city_admin")
    jobs.commit()
    client = make_client()
    client.login_as(admin)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    assert "/admin/years" in client.get("/home").get_data(as_text=True)
    page = client.get("/admin/years").get_data(as_text=True)
    assert "There is no current academic year yet" in page

    form = client.get("/admin/years/new").get_data(as_text=True)
    assert 'value="20' in form  # the school year of today's date is proposed

    resp = client.post_form(
        "/admin/years/new",
        {"name": "2027-2028", "starts_on": "2027-09-05", "ends_on": "2028-05-31", "current": "y"},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/years"
    page = client.get("/admin/years").get_data(as_text=True)
    assert "Current academic year: 2027-2028." in page and "16/01/2028" in page

    # The form proposes the next year, a year later to the day.
    proposed = client.get("/admin/years/new").get_data(as_text=True)
    assert 'value="2028-2029"' in proposed and 'value="2028-09-05"' in proposed

    refused = client.post_form(
        "/admin/years/new", {"name": "2027-2028", "starts_on": "2027-09-05", "ends_on": "2028-05-31"}
    )
    assert refused.status_code == 422 and "This year already exists." in refused.get_data(as_text=True)
    refused = client.post_form(
        "/admin/years/new", {"name": "2028-2029", "starts_on": "2028-05-05", "ends_on": "2029-05-31"}
    )
    assert refused.status_code == 422
    assert "The last day comes after the first, at most a year later." in refused.get_data(as_text=True)
    refused = client.post_form("/admin/years/new", {"name": "", "starts_on": "", "ends_on": "x"})
    assert refused.status_code == 422

    resp = client.post_form(
        "/admin/years/new",
        {
            "name": "2028-2029",
            "starts_on": "2028-09-05",
            "ends_on": "2029-05-31",
            "term2_starts_on": "2029-01-10",
        },
    )
    assert resp.status_code == 302
    years = _years()
    assert years["2027-2028"].is_current and years["2028-2029"].term2_starts_on == date(2029, 1, 10)
    assert [a.actor_id for a in _audits("year.create")] == [admin.id, admin.id]

    resp = client.post_form(
        "/admin/years/current", {"year_id": years["2028-2029"].id}, token_from="/admin/years"
    )
    assert resp.status_code == 302
    page = client.get("/admin/years").get_data(as_text=True)
    assert "Current academic year: 2028-2029." in page and "Past: kept, read only" in page
    switch = _audits("year.set_current")[-1]
    assert switch.actor_id == admin.id and switch.details == {"previous_year_id": years["2027-2028"].id}

    for bad in ("999999999", "1" * 25, "x"):
        resp = client.post_form("/admin/years/current", {"year_id": bad}, token_from="/admin/years")
        assert resp.status_code == 404, bad
    assert client.post_form("/admin/years/current", {}, token_from="/admin/years").status_code == 400


def test_switching_keeps_last_years_classes(app, runner):
    school = create_school(create_district())
    assert (
        runner.invoke(
            args=["years", "create", "2026-2027", "--start", "2026-09-05", "--end", "2027-05-31", "--current"]
        ).exit_code
        == 0
    )
    old = current_year()
    db.session.add(SchoolClass(school_id=school.id, academic_year_id=old.id, grade=6, name="6A"))
    jobs.commit()
    assert (
        runner.invoke(
            args=["years", "create", "2027-2028", "--start", "2027-09-05", "--end", "2028-05-31", "--current"]
        ).exit_code
        == 0
    )
    db.session.expire_all()
    assert current_year().name == "2027-2028"
    kept = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.academic_year_id == old.id))
    assert kept is not None and kept.name == "6A"


def test_only_one_year_is_current_in_the_database(app):
    db.session.add_all(
        [
            AcademicYear(
                name="2026-2027", starts_on=date(2026, 9, 5), ends_on=date(2027, 5, 31), is_current=True
            ),
            AcademicYear(
                name="2027-2028", starts_on=date(2027, 9, 5), ends_on=date(2028, 5, 31), is_current=True
            ),
        ]
    )
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
    else:
        raise AssertionError("two current years were stored")


def test_terms_follow_the_years_term2_day():
    year = AcademicYear(
        name="2027-2028",
        starts_on=date(2027, 9, 5),
        ends_on=date(2028, 5, 31),
        term2_starts_on=date(2028, 1, 8),
    )
    assert default_term_dates(year) == [
        (1, date(2027, 9, 5), date(2028, 1, 7)),
        (2, date(2028, 1, 8), date(2028, 5, 31)),
    ]
    year.term2_starts_on = None
    assert default_term_dates(year)[0][2] == date(2028, 1, 15)
    # A year that does not span January: split in the middle.
    assert default_term2_start(date(2027, 2, 1), date(2027, 6, 30)) == date(2027, 4, 17)


def test_demo_load_keeps_the_installations_current_year(app, runner):
    assert (
        runner.invoke(
            args=["years", "create", "2027-2028", "--start", "2027-09-05", "--end", "2028-05-31", "--current"]
        ).exit_code
        == 0
    )
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    years = _years()
    assert years["2027-2028"].is_current and not years["2026-2027"].is_current


def test_admin_corrects_the_dates_of_a_year_until_it_starts(app, make_client):
    admin = create_user("city_admin")
    jobs.commit()
    client = make_client()
    client.login_as(admin)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    for name, start, end in (
        ("2025-2026", "2025-09-05", "2026-05-31"),
        ("2040-2041", "2040-09-05", "2041-05-31"),
    ):
        assert (
            client.post_form(
                "/admin/years/new", {"name": name, "starts_on": start, "ends_on": end}
            ).status_code
            == 302
        )
    years = _years()
    listing = client.get("/admin/years").get_data(as_text=True)
    assert f'href="/admin/years/{years["2040-2041"].id}/edit"' in listing
    assert f'href="/admin/years/{years["2025-2026"].id}/edit"' not in listing  # started: locked

    url = f"/admin/years/{years['2040-2041'].id}/edit"
    assert 'value="2040-09-05"' in client.get(url).get_data(as_text=True)
    resp = client.post_form(
        url, {"starts_on": "2040-08-29", "ends_on": "2041-06-15", "term2_starts_on": "2041-01-10"}
    )
    assert resp.status_code == 302
    year = _years()["2040-2041"]
    assert (year.name, year.starts_on, year.ends_on, year.term2_starts_on) == (
        "2040-2041",
        date(2040, 8, 29),
        date(2041, 6, 15),
        date(2041, 1, 10),
    )
    assert [a.target_id for a in _audits("year.update")] == [str(year.id)]
    bad = client.post_form(url, {"starts_on": "2041-01-01", "ends_on": "2041-06-15"})
    assert bad.status_code == 422 and "The year starts in the first year of its name." in bad.get_data(
        as_text=True
    )

    started = f"/admin/years/{years['2025-2026'].id}/edit"
    refused = client.post_form(started, {"starts_on": "2025-09-01", "ends_on": "2026-05-31"})
    assert refused.status_code == 422 and "its dates can no longer change" in refused.get_data(as_text=True)
    assert _years()["2025-2026"].starts_on == date(2025, 9, 5)
    assert client.get("/admin/years/999999/edit").status_code == 404

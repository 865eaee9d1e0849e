"""The fixed costs of a request, pinned: the parent's opening-day journey statement by statement
(scripts/load/journeys.py measures the same journey under load), one statement for the login
session, its user and the header's unread count, no COMMIT for a request that wrote nothing, no
ping per pool checkout, and a read-only page served again after a dropped connection."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from flask import abort, has_request_context, render_template_string, request
from flask_babel import force_locale, lazy_gettext
from wtforms import Form, SelectField
from wtforms.fields.choices import Choice, SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import Select

from admissions.codes import generate_codes
from admissions.forms import SchoolSelect
from admissions.models import AdmissionCode, Application
from admissions.places import district_places
from app import jobs
from app.audit import audit
from app.authz import public
from app.extensions import PING_AFTER_IDLE_SECONDS, csrf, db, ping_if_idle
from app.models import AuditLog, District, User, UserSession, utcnow
from app.notifications.models import Delivery, Notification
from tests.admissions_factories import create_area, create_season, level_of
from tests.factories import PASSWORD, create_district, create_user
from tests.querycount import count_queries
from tests.sms import last_code

TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
INPUTS = re.compile(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"')

# Statements per step of the journey, at most (main before this: home 3, add_child_page 3,
# add_child 10, child 14, apply_page 9, submit 15, receipt 8 — 68 in all on SQLite).
JOURNEY_BUDGET = {
    "register_page": 0,
    # the number's account and earlier codes in one statement (none to end or delete: no
    # writes for them), the code, and the SMS job (app.auth.verification) (was 8)
    "register": 6,
    "verify_page": 1,
    # the code and the number's account in one statement, the code used with one UPDATE (its
    # payload emptied in it), the account created (its admissions consent) and signed in (was
    # 10; on PostgreSQL 6: the login's three writes are one statement)
    "verify": 8,
    "home": 1,
    "add_child_page": 1,
    # the code, its child, the parent's link and the code's season in one statement; the code,
    # the child and the link written in one flush; the audit entry (the season is not read
    # again when it is the current year's; the application only once the window has closed,
    # for the warning)
    "add_child": 6,
    # the child's list, the current season (with the places' version) and the child's
    # applications with their choices in one statement (admissions.family); the district's
    # places cached (admissions.places: read once per process, season and version, 4
    # statements, see season_world) (was 4)
    "child": 2,
    # the child, the current season and her application of it in one statement
    # (admissions.family); the places cached (was 4)
    "apply_page": 2,
    # what the form read; INSERT … ON CONFLICT DO NOTHING (no savepoint; the reference not
    # looked up first: a taken one is refused and drawn again), the ranked choices in one
    # executemany INSERT, the audit entry, the office's counters moved in the same transaction
    # (one upsert)
    "submit": 6,  # (was 8)
    "receipt": 2,  # the application with its child, season, choices and schools
    # the child's page again, the application on it: what the page loaded (its choices, their
    # schools, the child) is not selected again for the result's explanation (was 17, then 7)
    "child_again": 5,
}


@pytest.fixture
def season_world(app, db):
    district = create_district()
    area = create_area(district, n_children=3)
    season = create_season()
    season.academic_year.is_current = True  # as in production: the season is the current year's
    generate_codes(level_of(season), district.id)
    jobs.commit()
    codes = {c.roster_entry_id: c for c in db.session.scalars(sa.select(AdmissionCode))}
    # Opening day: other families have opened the district's pages already (the places cached)
    level = level_of(season)
    _ = (district.id, season.places_version, level.level, level.season.intake_year)  # loaded first
    with count_queries(app) as q:
        district_places(season, level, district.id)
    assert q.count == 4, q.statements  # the schools, the lines, the catchment demand's 2
    with count_queries(app) as q:
        district_places(season, level, district.id)
    assert q.count == 0
    return {"area": area, "codes": codes}


def _token(resp) -> str:
    return TOKEN.search(resp.get_data(as_text=True)).group(1)


def test_the_journey_stays_within_its_statement_budget(client, season_world, app):
    area = season_world["area"]
    roster = area.children[0]
    code = season_world["codes"][roster.id].code
    counts: dict[str, int] = {}

    def step(name, fn, status):
        with count_queries(app) as q:
            resp = fn()
        assert resp.status_code == status, (name, resp.get_data(as_text=True)[-600:])
        counts[name] = q.count
        return resp

    page = step("register_page", lambda: client.get("/auth/register"), 200)
    form = {"full_name": "Trần Thị Mẹ", "phone": "0987654321", "password": PASSWORD, "confirm": PASSWORD}
    step(
        "register",
        lambda: client.post(
            "/auth/register", data={"csrf_token": _token(page), "privacy_notice": "2026-12-01", **form}
        ),
        302,
    )
    page = step("verify_page", lambda: client.get("/auth/verify"), 200)
    sms = {"csrf_token": _token(page), "code": last_code("0987654321")}
    step("verify", lambda: client.post("/auth/verify", data=sms), 302)
    step("home", lambda: client.get("/home"), 200)
    page = step("add_child_page", lambda: client.get("/children/add"), 200)
    found = {
        "code": code,
        "personal_id": roster.personal_id,
        "date_of_birth": roster.date_of_birth.isoformat(),
    }
    resp = step(
        "add_child", lambda: client.post("/children/add", data={"csrf_token": _token(page), **found}), 302
    )
    child = resp.headers["Location"]
    step("child", lambda: client.get(child), 200)
    page = step("apply_page", lambda: client.get(child + "/application"), 200)
    fields = dict(INPUTS.findall(page.get_data(as_text=True)))
    fields.update(choice_1=area.other.id, choice_2=0, choice_3=0, sibling_school=0)
    resp = step("submit", lambda: client.post(child + "/application", data=fields), 302)
    receipt = step("receipt", lambda: client.get(resp.headers["Location"]), 200)
    again = step("child_again", lambda: client.get(child), 200)

    reference = db.session.scalar(sa.select(Application.reference))
    assert reference in receipt.get_data(as_text=True)
    assert reference in again.get_data(as_text=True)
    assert area.ward.name in receipt.get_data(as_text=True)  # loaded with the application
    over = {k: (counts[k], v) for k, v in JOURNEY_BUDGET.items() if counts[k] > v}
    assert not over, f"over budget (statements, budget): {over}"


def _deliver(user: User, title: str = "Họp phụ huynh") -> None:
    n = Notification(kind="test", context={"title": title}, recipient_count=1)
    db.session.add(n)
    db.session.flush()
    db.session.add(
        Delivery(
            notification_id=n.id, recipient_id=user.id, channel="in_app", status="sent", sent_at=utcnow()
        )
    )
    jobs.commit()


def test_a_logged_in_page_loads_session_user_and_badge_in_one_statement(client, app):
    parent = create_user("parent")
    jobs.commit()
    client.login_as(parent)
    with count_queries(app) as q:
        home = client.get("/home").get_data(as_text=True)
    assert q.count == 1, q.statements
    assert "user_session" in q.statements[0] and "delivery" in q.statements[0]
    assert re.search(r'class="notif-link">[^<]*\(0\)', home)
    # The count is never stale: a notification delivered since shows on the next page.
    _deliver(parent)
    assert re.search(r'class="notif-link">[^<]*\(1\)', client.get("/home").get_data(as_text=True))


def test_a_login_writes_its_session_time_and_audit_entry_in_one_round_trip(client, app):
    parent = create_user("parent")
    jobs.commit()
    token, login = _token(client.get("/auth/login")), parent.email or parent.phone
    with count_queries(app) as q:
        resp = client.post(
            "/auth/login",
            data={"csrf_token": token, "login": login, "password": PASSWORD},
        )
    assert resp.status_code == 302
    writes = [st.split()[0].upper() for st in q.statements if not st.lstrip().upper().startswith("SELECT")]
    if db.engine.dialect.name == "postgresql":
        # The session row and the last login time as CTEs of the audit entry's INSERT.
        assert writes == ["WITH"], q.statements
        assert all(t in q.statements[1] for t in ("user_session", '"user"', "audit_log")), q.statements
        assert len(q.statements) == 2, q.statements  # the account, then the writes
    else:
        assert writes == ["INSERT", "UPDATE", "INSERT"], q.statements
        assert "user_session" in q.statements[1] and "audit_log" in q.statements[3], q.statements
        assert len(q.statements) == 4, q.statements  # the account, then the three writes
    db.session.expire_all()
    account = db.session.get(User, parent.id)
    assert account.last_login_at is not None
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 1
    assert db.session.scalar(sa.select(AuditLog.action).where(AuditLog.actor_id == parent.id)) == "user.login"
    assert client.get("/home").status_code == 200  # the new session is live


def test_an_unchanged_session_cookie_is_not_sent_again(client):
    parent = create_user("parent")
    jobs.commit()
    client.login_as(parent)
    assert client.get("/home").status_code == 200  # a new CSRF token for the page's forms: sent
    resp = client.get("/home")
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers


def test_opening_a_notification_counts_the_badge_after_reading_it(client, app):
    parent = create_user("parent")
    jobs.commit()
    _deliver(parent)
    client.login_as(parent)
    delivery_id = db.session.scalar(sa.select(Delivery.id))
    page = client.get(f"/notifications/{delivery_id}").get_data(as_text=True)
    assert re.search(r'class="notif-link">[^<]*\(0\)', page)


@pytest.fixture
def tx_views(app):
    @public
    def reads():
        db.session.scalar(sa.select(sa.func.count()).select_from(District))
        return "read"

    @public
    def writes():
        db.session.add(District(name="written", code="W1"))
        return "written"

    @public
    def audits():
        audit("test.page_seen", ("district", "1"))
        return "seen"

    @public
    def executes():
        db.session.execute(sa.text("UPDATE district SET name = 'renamed' WHERE code = 'W1'"))
        return "renamed"

    @public
    def refuses():
        db.session.scalar(sa.select(District.id))
        return "no", 422

    state = {"failures": 0}

    @public
    def flaky():
        if state["failures"]:
            state["failures"] -= 1
            raise sa.exc.OperationalError(
                "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
            )
        return "served"

    for fn in (reads, writes, audits, executes, refuses, flaky):
        app.add_url_rule(f"/_cost/{fn.__name__}", fn.__name__, csrf.exempt(fn), methods=["GET", "POST"])
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return state


@pytest.fixture
def commits(app):
    seen = []
    with app.app_context():
        engine = db.engine

    def listener(conn):
        if has_request_context():  # the app's commits, not the test's own
            seen.append(request.path)

    sa.event.listen(engine, "commit", listener)
    yield seen
    sa.event.remove(engine, "commit", listener)


def _names() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(District.name).order_by(District.name)))


def test_a_request_that_wrote_nothing_does_not_commit(tx_views, client, commits):
    assert client.get("/_cost/reads").status_code == 200
    assert client.get("/_cost/refuses").status_code == 422
    assert commits == []
    assert client.post("/_cost/writes").status_code == 200
    assert len(commits) == 1 and _names() == ["written"]
    # Writes that belong to any answer (an audit entry) and writes in plain SQL commit too.
    assert client.get("/_cost/audits").status_code == 200
    assert client.post("/_cost/executes").status_code == 200
    assert len(commits) == 3 and _names() == ["renamed"]


def test_a_read_only_page_is_served_again_after_a_dropped_connection(tx_views, client):
    tx_views["failures"] = 1
    assert client.get("/_cost/flaky").status_code == 200
    tx_views["failures"] = 2  # once only
    assert client.get("/_cost/flaky").status_code == 500
    tx_views["failures"] = 1  # never a form post: the family posts again
    assert client.post("/_cost/flaky").status_code == 500


def test_no_ping_per_checkout_but_idle_connections_are_tested(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is False
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_recycle"] > 0

    class Dead:
        def cursor(self):
            raise OSError("server closed the connection")

    class Record:
        info: dict

    rec = Record()
    rec.info = {"checked_in_at": 0.0}  # idle for ages
    with pytest.raises(sa.exc.DisconnectionError):
        ping_if_idle(Dead(), rec, None)
    rec.info = {"checked_in_at": time.monotonic()}  # just used: no round trip
    ping_if_idle(Dead(), rec, None)
    assert PING_AFTER_IDLE_SECONDS <= 60


def test_abort_still_rolls_back(tx_views, app, client):
    @public
    def aborts():
        db.session.add(District(name="aborted", code="A1"))
        db.session.flush()
        abort(409)

    app.add_url_rule("/_cost/aborts", "aborts", csrf.exempt(aborts), methods=["POST"])
    assert client.post("/_cost/aborts").status_code == 409
    assert _names() == []


def test_a_page_survives_the_database_dropping_pooled_connections(client, app):
    """No ping per checkout: PostgreSQL ending the pooled connections (a restart, a proxy's idle
    timeout) costs a page nothing — it is served again on a fresh connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL ends connections; SQLite has none to end")
    parent = create_user("parent")
    jobs.commit()
    client.login_as(parent)
    assert client.get("/home").status_code == 200  # the pool holds the connection it used
    killer = sa.create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        killer.dispose()
    assert ended >= 1
    assert client.get("/home").status_code == 200


def test_template_translations_are_cached_per_request_and_follow_a_forced_locale(app):
    with app.test_request_context("/"):
        assert render_template_string('{{ _("Log out") }}') == "Đăng xuất"
        with force_locale("en"):
            assert render_template_string('{{ _("Log out") }}') == "Log out"
        assert render_template_string('{{ _("Page %(n)d", n=2) }}') == "Trang 2"


def test_the_school_select_writes_what_wtforms_writes(app):
    options = [Choice(0, lazy_gettext("— none —"), False, None), Choice(7, 'Tiểu học <"A"> & B', True, None)]
    options.append(Choice(8, "Có thuộc tính", False, {"disabled": True}))
    with app.test_request_context("/"):
        for choice in options:
            assert SchoolSelect.render_option(choice) == Select.render_option(choice)
        assert "&lt;&#34;A&#34;&gt; &amp; B" in SchoolSelect.render_option(options[1])


def test_the_school_select_writes_whole_selects_as_wtforms_does(app):
    """The application form's selects, written in one loop, against WTForms' own widget: the
    option chosen, escaping, a required flag, and choices it leaves to WTForms (attributes)."""

    class F(Form):
        plain = SelectField("A", coerce=int, choices=[], validate_choice=False, widget=SchoolSelect())
        wtf = SelectField("A", coerce=int, choices=[], validate_choice=False, widget=Select())
        req = SelectField("B", coerce=int, choices=[], validators=[InputRequired()], widget=SchoolSelect())

    with app.test_request_context("/"):
        form = F(data={"plain": 7, "wtf": 7, "req": 8})
        choices = [SelectChoice(0, lazy_gettext("— none —")), SelectChoice(7, 'Tiểu học <"A"> & B')]
        choices.append(SelectChoice(8, "Tám"))
        for f in (form.plain, form.wtf, form.req):
            f.choices = choices
        ours = form.plain(**{"aria-invalid": "true"})
        theirs = str(form.wtf(**{"aria-invalid": "true"}))
        assert ours == theirs.replace('name="wtf"', 'name="plain"').replace('id="wtf"', 'id="plain"')
        assert '<option selected value="7">Tiểu học &lt;&#34;A&#34;&gt; &amp; B</option>' in ours
        assert form.req() == Select()(form.req)
        form.plain.choices = [*choices, SelectChoice(9, "Có thuộc tính", render_kw={"disabled": True})]
        assert form.plain() == Select()(form.plain)

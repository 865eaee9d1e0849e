"""Admission council: the school's queue, document checks, flags to the family
and the family's answer; scope, audit, bounded queries."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from admissions import seasons
from admissions.models import AdmissionSeason, CouncilMessage, CouncilReview, DocumentCheck
from app import jobs
from app.models import AuditLog
from app.notifications.models import Delivery, Notification
from tests.admissions_factories import add_child_for, create_application, create_roster_entry, login_en
from tests.factories import create_user
from tests.integration.test_admissions_dashboard import build_season
from tests.querycount import count_queries


@pytest.fixture
def w(app, db):
    return build_season()


def text(resp) -> str:
    return resp.get_data(as_text=True)


def queue_url(w, school=None, **args) -> str:
    school = school or w.a.home
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/admissions/council/levels/{w.level.id}/schools/{school.id}" + (f"?{query}" if query else "")


def form_token(client, url: str) -> str:
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', text(client.get(url)))
    assert match, url
    return match.group(1)


def save_documents(client, application_id: int, **docs):
    """docs: kind=(status, note); kinds not given stay as shown on the page."""
    url = f"/admissions/council/applications/{application_id}"
    page = text(client.get(url))
    data = {"csrf_token": re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)}
    for kind in ("birth_certificate", "residence_proof", "priority_proof"):
        selected = re.search(
            rf'<select[^>]*name="status_{kind}".*?<option selected value="(\w+)"', page, re.S
        )
        data[f"status_{kind}"], data[f"note_{kind}"] = docs.get(kind, (selected.group(1), ""))
    return client.post(f"{url}/documents", data=data)


def test_queue_holds_first_choices_and_placements_not_withdrawn(make_client, w):
    client = make_client()
    login_en(client, w.users["staff_home"])
    resp = client.get(queue_url(w, show="all"))
    assert resp.status_code == 200
    page = text(resp)
    apps = w.apps
    # first choice home (not placed) and offered at home; not those who ranked `other` first
    for key in ("home", "offered"):
        assert apps[key].reference in page, key
    for key in ("other1", "other2", "confirmed", "withdrawn", "b"):
        assert apps[key].reference not in page, key
    # the other school's queue has the children who ranked it first and the one confirmed there
    client = make_client()
    login_en(client, w.users["officer_a"])
    page = text(client.get(queue_url(w, w.a.other, show="all")))
    for key in ("other1", "other2", "confirmed"):
        assert apps[key].reference in page, key
    assert apps["offered"].reference not in page
    entry = (
        AuditLog.query.filter_by(action="admissions.council.queue.view").order_by(AuditLog.id.desc()).first()
    )
    assert entry.target_type == "school" and entry.details["rows"] == 3 and entry.details["show"] == "all"


def test_scope(make_client, w):
    home_app = w.apps["home"]
    urls = {"queue": queue_url(w), "application": f"/admissions/council/applications/{home_app.id}"}
    expected = {
        "staff_home": 200,
        "officer_a": 200,
        "city": 200,
        "staff_b": 404,
        "officer_b": 404,
        "teacher_home": 403,
        "parent": 403,
    }
    for who, code in expected.items():
        client = make_client()
        client.login_as(w.users[who])
        for name, url in urls.items():
            assert client.get(url).status_code == code, (who, name)
    # a withdrawn application is in no queue: not found even for the school's staff
    client = make_client()
    client.login_as(w.users["staff_home"])
    assert client.get(f"/admissions/council/applications/{w.apps['withdrawn'].id}").status_code == 404
    # district B's application is not reachable by district A's school staff
    assert client.get(f"/admissions/council/applications/{w.apps['b'].id}").status_code == 404
    # POSTs are scope-checked too
    token = form_token(client, "/home")
    resp = client.post(
        f"/admissions/council/applications/{w.apps['b'].id}/documents",
        data={"csrf_token": token, "status_birth_certificate": "checked"},
    )
    assert resp.status_code == 404


def test_viewing_a_record_is_audited_with_ids_only(make_client, w, db):
    client = make_client()
    login_en(client, w.users["staff_home"])
    app_ = w.apps["home"]
    page = text(client.get(f"/admissions/council/applications/{app_.id}"))
    roster = app_.child.roster_entry
    assert app_.child.full_name in page and roster.personal_id not in page  # the personal ID is masked
    assert roster.personal_id[:3] + "••••••" + roster.personal_id[-3:] in page
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.council.view"))
    assert (entry.target_type, entry.target_id) == ("application", str(app_.id))
    assert entry.details == {"school_id": w.a.home.id, "child_id": app_.child_id}
    assert entry.actor_id == w.users["staff_home"].id


def test_flag_a_problem_then_the_family_answers(make_client, w, db, run_jobs):
    staff = make_client()
    login_en(staff, w.users["staff_home"])
    app_ = w.apps["home"]

    # a problem without a note: 422, nothing stored
    resp = save_documents(
        staff, app_.id, birth_certificate=("checked", ""), residence_proof=("problem", "  ")
    )
    assert resp.status_code == 422 and "Write a note for the family" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count(DocumentCheck.id))) == 0

    note = "Giấy xác nhận cư trú đã hết hạn: xin mang bản mới."
    resp = save_documents(
        staff, app_.id, birth_certificate=("checked", ""), residence_proof=("problem", note)
    )
    assert resp.status_code == 302
    checks = {c.kind: c for c in db.session.scalars(sa.select(DocumentCheck))}
    assert checks["birth_certificate"].status == "checked" and checks["residence_proof"].note == note
    assert checks["residence_proof"].checked_by_id == w.users["staff_home"].id
    assert checks["residence_proof"].school_id == w.a.home.id
    assert "priority_proof" not in checks  # not claimed: left as "not needed"
    review = db.session.get(CouncilReview, app_.id)
    assert review.state == "problem" and not review.family_replied
    # the family is notified (in-app at least), naming the child
    run_jobs()
    n = db.session.scalar(sa.select(Notification).where(Notification.kind == "admission"))
    assert n.context["child_name"] == app_.child.full_name and app_.child.full_name in n.context["title"]
    assert set(
        db.session.scalars(sa.select(Delivery.recipient_id).where(Delivery.notification_id == n.id))
    ) == {w.parent.id}
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.council.documents"))
    assert audit.details == {
        "school_id": w.a.home.id,
        "statuses": {"birth_certificate": "checked", "residence_proof": "problem"},
    }
    assert note not in str(audit.details)

    # the parent sees the flag and the note on the child's page, and answers
    parent = make_client()
    login_en(parent, w.parent)
    page = text(parent.get(f"/children/{app_.child_id}"))
    assert "Documents checked by the school" in page and note in page and "Proof of residence" in page
    assert (
        w.users["staff_home"].full_name not in page
    )  # the family sees "the school's council", no staff name
    token = form_token(parent, f"/children/{app_.child_id}")
    resp = parent.post(f"/admissions/council/replies/{app_.id}", data={"csrf_token": token, "body": ""})
    assert resp.status_code == 422 and "Write a message" in text(resp)
    resp = parent.post(
        f"/admissions/council/replies/{app_.id}",
        data={"csrf_token": token, "body": "Tôi sẽ mang giấy mới vào thứ Hai."},
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/children/{app_.child_id}")
    db.session.expire_all()
    assert db.session.get(CouncilReview, app_.id).family_replied
    msgs = db.session.scalars(sa.select(CouncilMessage).order_by(CouncilMessage.id)).all()
    assert [(m.from_family, m.document_kind) for m in msgs] == [(False, "residence_proof"), (True, None)]

    # the council's queue shows the answer first, under "family replied"
    page = text(staff.get(queue_url(w, show="replied")))
    assert app_.reference in page and "Family replied (1)" in page and "Problem flagged (1)" in page
    page = text(staff.get(f"/admissions/council/applications/{app_.id}"))
    assert "Tôi sẽ mang giấy mới vào thứ Hai." in page

    # the new paper is checked: the flag goes, the review is complete
    resp = save_documents(staff, app_.id, residence_proof=("checked", ""))
    assert resp.status_code == 302
    db.session.expire_all()
    review = db.session.get(CouncilReview, app_.id)
    assert review.state == "complete" and not review.family_replied
    page = text(parent.get(f"/children/{app_.child_id}"))
    assert "found a problem" not in page and "Checked" in page


def test_only_that_childs_parents_see_the_flags_and_answer(make_client, w, db):
    staff = make_client()
    login_en(staff, w.users["staff_home"])
    app_ = w.apps["home"]
    assert (
        save_documents(
            staff, app_.id, birth_certificate=("problem", "Bản sao mờ, không đọc được.")
        ).status_code
        == 302
    )

    stranger = create_user("parent")
    other_kid = add_child_for(stranger, create_roster_entry(w.a.ward, w.a.groups[0]), w.season)
    create_application(other_kid, w.level, stranger, catchment=w.a.home)
    jobs.commit()
    client = make_client()
    login_en(client, stranger)
    assert "Bản sao mờ" not in text(client.get("/children/"))
    assert client.get(f"/children/{app_.child_id}").status_code == 404
    token = form_token(client, "/children/")
    resp = client.post(
        f"/admissions/council/replies/{app_.id}", data={"csrf_token": token, "body": "xin chào"}
    )
    assert resp.status_code == 404
    assert (
        db.session.scalar(sa.select(sa.func.count(CouncilMessage.id)).where(CouncilMessage.from_family)) == 0
    )
    # the child's own parent sees it on the list of children too
    client = make_client()
    login_en(client, w.parent)
    assert "Bản sao mờ" in text(client.get("/children/"))


def test_family_cannot_write_first(make_client, w, db):
    client = make_client()
    login_en(client, w.parent)
    app_ = w.apps["home"]
    token = form_token(client, "/children/")
    resp = client.post(f"/admissions/council/replies/{app_.id}", data={"csrf_token": token, "body": "hello"})
    assert resp.status_code == 422 and "has not written to you" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count(CouncilMessage.id))) == 0


def test_council_message_and_priority_proof(make_client, w, db):
    app_ = w.apps["other2"]
    app_.sibling_school_ids = [w.a.other.id]  # claims sibling priority: proof needed
    jobs.commit()
    staff = make_client()
    login_en(staff, w.users["officer_a"])
    page = text(staff.get(f"/admissions/council/applications/{app_.id}"))
    assert "A brother or sister studies at " + w.a.other.name in page
    assert (
        save_documents(
            staff, app_.id, birth_certificate=("checked", ""), residence_proof=("checked", "")
        ).status_code
        == 302
    )
    assert db.session.get(CouncilReview, app_.id).state == "incomplete"  # priority proof still missing
    token = form_token(staff, f"/admissions/council/applications/{app_.id}")
    resp = staff.post(
        f"/admissions/council/applications/{app_.id}/messages",
        data={"csrf_token": token, "body": "Xin mang giấy xác nhận anh/chị đang học tại trường."},
    )
    assert resp.status_code == 302
    resp = staff.post(
        f"/admissions/council/applications/{app_.id}/messages", data={"csrf_token": token, "body": "x" * 1001}
    )
    assert resp.status_code == 422
    assert save_documents(staff, app_.id, priority_proof=("checked", "")).status_code == 302
    db.session.expire_all()
    assert db.session.get(CouncilReview, app_.id).state == "complete"
    page = text(staff.get(queue_url(w, w.a.other, show="complete")))
    assert app_.reference in page


def test_queue_search_and_bounded_queries(app, make_client, w):
    client = make_client()
    login_en(client, w.users["staff_home"])
    page = text(search(client, w, w.apps["home"].reference, show="all"))
    assert w.apps["home"].reference in page and w.apps["offered"].reference not in page

    def measure():
        with count_queries(app) as q:
            assert client.get(queue_url(w, show="all")).status_code == 200
        return q.count

    before = measure()
    for _ in range(8):
        kid = add_child_for(w.parent, create_roster_entry(w.a.ward, w.a.groups[0]), w.season)
        create_application(kid, w.level, w.parent, catchment=w.a.home)
    jobs.commit()
    assert measure() == before


def search(client, w, q: str, **fields):
    url = queue_url(w)
    return client.post(url, data={"csrf_token": form_token(client, url), "q": q, **fields})


def test_council_search_keeps_the_childs_name_out_of_urls(make_client, w):
    """A name typed in the search goes in a POST body, never in a URL (access logs, history):
    the form posts, its results' filter and page links post too, and `?q=` in a URL is ignored."""
    client = make_client()
    login_en(client, w.users["staff_home"])
    child = w.apps["home"].child
    first_page = text(client.get(queue_url(w, show="all")))
    assert re.search(r'<form method="post"[^>]*role="search"', first_page)
    found = search(client, w, child.full_name, show="all")
    assert found.status_code == 200
    page = text(found)
    assert w.apps["home"].reference in page and w.apps["offered"].reference not in page
    # Nothing on the results page puts the name (or any part of it) into a link.
    hrefs = re.findall(r'(?:href|action)="([^"]*)"', page)
    assert hrefs and not [h for h in hrefs if "q=" in h or child.full_name.split()[-1] in h], hrefs
    assert f'name="q" value="{child.full_name}"' in page  # the filter links carry it in a form
    # Another filter within the search stays a POST with the name in its body.
    todo = text(search(client, w, child.full_name, show="todo", page="1"))
    assert 'aria-current="page">To check' in todo
    # A URL with ?q= (an old bookmark) filters nothing: names are not taken from URLs.
    listed = text(client.get(queue_url(w, show="all", q=child.full_name)))
    assert w.apps["offered"].reference in listed


def test_parent_pages_stay_bounded_with_flags(app, make_client, w):
    staff = make_client()
    login_en(staff, w.users["staff_home"])
    assert (
        save_documents(staff, w.apps["home"].id, birth_certificate=("problem", "Thiếu bản sao.")).status_code
        == 302
    )
    parent = make_client()
    login_en(parent, w.parent)

    def measure():
        with count_queries(app) as q:
            assert parent.get("/children/").status_code == 200
        return q.count

    before = measure()
    for _ in range(4):
        kid = add_child_for(w.parent, create_roster_entry(w.a.ward, w.a.groups[0]), w.season)
        app_ = create_application(kid, w.level, w.parent, catchment=w.a.home)
        jobs.commit()
        assert (
            save_documents(staff, app_.id, birth_certificate=("problem", "Thiếu bản sao.")).status_code == 302
        )
    assert measure() == before


def test_trial_wipe_takes_the_councils_records_with_it(make_client, app, db):
    w = build_season(trial=True)
    staff = make_client()
    login_en(staff, w.users["staff_home"])
    assert (
        save_documents(staff, w.apps["home"].id, birth_certificate=("problem", "Thiếu bản sao.")).status_code
        == 302
    )
    parent = make_client()
    login_en(parent, w.parent)
    token = form_token(parent, "/children/")
    assert (
        parent.post(
            f"/admissions/council/replies/{w.apps['home'].id}", data={"csrf_token": token, "body": "Vâng ạ."}
        ).status_code
        == 302
    )
    season = db.session.get(AdmissionSeason, w.season.id)
    for lv in season.levels:  # the official windows are still ahead
        lv.opens_at = lv.opens_at.replace(year=lv.opens_at.year + 1)
        lv.closes_at = lv.closes_at.replace(year=lv.closes_at.year + 1)
        lv.confirm_by = None
    jobs.commit()
    seasons.wipe_trial(season)
    jobs.commit()
    for model in (DocumentCheck, CouncilMessage, CouncilReview):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0, model


def test_hostile_query_arguments_are_ignored(make_client, w):
    client = make_client()
    client.login_as(w.users["city"])
    huge = "9" * 30
    assert client.get(f"/admissions/council/?district_id={huge}").status_code == 200
    assert client.get(f"/admissions/council/?district_id={w.a.district.id}").status_code == 200
    resp = client.get(queue_url(w, show="nonsense", page=huge))
    assert resp.status_code == 200
    resp = search(client, w, "%_\\" + "x" * 500, show="nonsense", page=huge)
    assert resp.status_code == 200
    resp = client.get(queue_url(w, page=-3))
    assert resp.status_code == 200

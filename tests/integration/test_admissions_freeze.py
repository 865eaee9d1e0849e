"""Rounds nobody can steer: the seed commitment before the window opens, the entry freeze at the
close and its public versions, the beacon (a local fake drand server, also down), every attempt
public; a season where the office tries to steer and every act shows on the public page."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from py_ecc.bls import G2Basic

from admissions import beacon, freeze, offers, placement, rounds, rules
from admissions.allocation import draw_lottery, student_key
from admissions.allocation.verification import derive_seed, freeze_fingerprint
from admissions.freeze_models import EntryFreeze, RoundAttempt, RoundCommitment
from admissions.models import AllocationRound, Application, ApplicationChoice, ApplicationStatus
from app import jobs
from app.config import Config
from app.models import utcnow
from tests.admissions_factories import create_round, login_en
from tests.factories import create_district
from tests.rounds_cases import as_worker, publish, run_round


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


def text(resp) -> str:
    return resp.get_data(as_text=True)


# The fake chain's key pair (drand's chained scheme: BLS12-381, signatures on G2).
FAKE_SK = 20261204
FAKE_PK = G2Basic.SkToPk(FAKE_SK).hex()
# A real round of the League of Entropy's mainnet (the default BEACON_PUBLIC_KEY): round 1337.
MAINNET_1337 = {
    "round": 1337,
    "previous_signature": "80d95247ddf1bb3acf5738497a5f10406be283144603f63d714bb1a44ff6b932"
    "85ae2697fffeb50c68862bd9fbecd4b204b1798d2686b4ac5d573615031d9d67e6168bde9a7adf1161430a498ca7"
    "01a25c216aee3e38ffd5290369034fa050a2",
    "signature": "945b08dcb30e24da281ccf14a646f0630ceec515af5c5895e18cc1b19edd65d156b71c776a369af34"
    "87f1bc6af1062500b059e01095cc0eedce91713977d7735cac675554edfa0d0481bb991ed93d333d08286192c05bf6b"
    "65d20f23a37fc7bb",
    "randomness": "2660664f8d4bc401194d80d81da20a1e79480f65b8e2d205aecbd143b5bfb0d3",
}


@functools.cache
def signed_round(n: int) -> dict:
    """Round n of the fake chain as drand serves it, signed with the fake chain's key."""
    previous = (hashlib.sha256(f"fake beacon {n - 1}".encode()).digest() * 3).hex()
    signature = G2Basic.Sign(FAKE_SK, beacon.round_message(n, previous, "pedersen-bls-chained")).hex()
    randomness = hashlib.sha256(bytes.fromhex(signature)).hexdigest()
    return {"round": n, "randomness": randomness, "signature": signature, "previous_signature": previous}


def randomness(n: int) -> str:
    return signed_round(n)["randomness"]


@pytest.fixture
def beacon_server(app):
    """A local HTTP server speaking drand's format: GET /public/<round>, signed with the fake
    chain's key (BEACON_PUBLIC_KEY set to it); `state.down` answers 503, `state.forge` a value
    signed by another key, `state.serve` a fixed answer."""
    state = SimpleNamespace(down=False, hits=0, forge=False, serve=None)
    app.config["BEACON_PUBLIC_KEY"] = FAKE_PK

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            state.hits += 1
            m = re.fullmatch(r"/public/(\d+)", self.path)
            if state.down or not m:
                self.send_response(503)
                self.end_headers()
                return
            n = int(m.group(1))
            answer = state.serve or signed_round(n)
            if state.forge:
                signature = G2Basic.Sign(
                    FAKE_SK + 1, beacon.round_message(n, answer["previous_signature"], "pedersen-bls-chained")
                )
                answer = {
                    **answer,
                    "signature": signature.hex(),
                    "randomness": hashlib.sha256(signature).hexdigest(),
                }
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", state=state)
    server.shutdown()
    server.server_close()


def test_beacon_adapter_reads_drand_format_and_reports_failures(app, beacon_server):
    app.config["BEACON_URL"] = beacon_server.url + "/"
    value = beacon.fetch(123)
    assert (value.round, value.randomness) == (123, randomness(123))
    assert value.source == f"{beacon_server.url}/public/123"
    assert value.signature == signed_round(123)["signature"]
    # A value signed by another key, or whose randomness is not SHA-256 of its signature: refused.
    beacon_server.state.forge = True
    with pytest.raises(beacon.BeaconUnavailable, match="does not verify"):
        beacon.fetch(123)
    beacon_server.state.forge = False
    beacon_server.state.serve = {**signed_round(124), "round": 123, "randomness": randomness(123)}
    with pytest.raises(beacon.BeaconUnavailable, match="SHA-256"):
        beacon.fetch(123)
    # A real mainnet round verifies with the default public key (the League of Entropy's).
    app.config["BEACON_PUBLIC_KEY"] = Config.BEACON_PUBLIC_KEY
    beacon_server.state.serve = MAINNET_1337
    assert beacon.fetch(1337).randomness == MAINNET_1337["randomness"]
    with pytest.raises(beacon.BeaconUnavailable, match="does not verify"):
        beacon_server.state.serve = {**MAINNET_1337, "round": 1338}
        beacon.fetch(1338)
    beacon_server.state.serve = None
    beacon_server.state.down = True
    with pytest.raises(beacon.BeaconUnavailable):
        beacon.fetch(123)
    with socket_closed() as url, pytest.raises(beacon.BeaconUnavailable):
        beacon.fetch(5, url)
    app.config["BEACON_URL"] = None
    with pytest.raises(beacon.BeaconUnavailable):
        beacon.fetch(5)


class socket_closed:
    """The address of a port nobody listens on."""

    def __enter__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        return False


def _page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, url
    return text(resp)


def test_the_round_waits_while_the_beacon_is_down(app, db, rw, beacon_server, make_client, run_jobs, runner):
    app.config["BEACON_URL"] = beacon_server.url
    beacon_server.state.down = True
    create_district()
    jobs.commit()
    # The scheduled command asks the beacon once per round, not once per district, and goes on.
    out = runner.invoke(args=["admissions", "freeze-entries"])
    assert out.exit_code == 0 and "beacon values 0" in out.output, out.output
    assert beacon_server.state.hits == 1
    rnd = rounds.create_official_round(rw.level, rw.district.id, rw.officer)
    jobs.commit()
    officer = make_client()
    officer.login_as(rw.officer)  # Vietnamese, the default
    resp = officer.post_form(
        f"/admissions/office/rounds/{rnd.id}/run", {}, token_from=f"/admissions/office/rounds/{rnd.id}"
    )
    assert resp.status_code == 302
    page = _page(officer, f"/admissions/office/rounds/{rnd.id}")
    assert "Đang chờ nguồn ngẫu nhiên công khai (beacon)" in page
    assert beacon_server.state.hits == 2
    db.session.expire_all()
    assert db.session.get(AllocationRound, rnd.id).status == "draft"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoundAttempt)) == 0
    # The entry lists were frozen by the scheduled command (one per district), and are public.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EntryFreeze)) == 2
    beacon_server.state.down = False
    run_round(db.session.get(AllocationRound, rnd.id), run_jobs)
    rnd = db.session.get(AllocationRound, rnd.id)
    assert rnd.status == "done"
    # The round's own district (the other district's commitment waits for its own round).
    c = db.session.scalar(sa.select(RoundCommitment).where(RoundCommitment.district_id == rw.district.id))
    assert c.beacon_randomness == randomness(c.beacon_round) and c.beacon_entered_by_id is None


def test_an_office_trying_to_steer_a_season_is_seen_by_everyone(  # noqa: PLR0915
    app,
    db,
    rw,
    runner,
    make_client,
    run_jobs,
    beacon_server,
    monkeypatch,
):
    app.config["BEACON_URL"] = beacon_server.url
    level, district, area = rw.level, rw.district, rw.area
    record_url = f"/tuyen-sinh/levels/{level.id}/districts/{district.id}/record"
    public = make_client()
    en = make_client()
    login_en(en, rw.parent)

    # Before the window opens the scheduled command publishes the seed's SHA-256, with the time.
    before = level.opens_at - timedelta(hours=2)
    monkeypatch.setattr(freeze, "now", lambda: before)
    out = runner.invoke(args=["admissions", "freeze-entries"])
    assert out.exit_code == 0 and "entry versions 0" in out.output, out.output
    monkeypatch.undo()
    c = freeze.commitment_of(level, district.id)
    assert c.committed_at == before and c.beacon_randomness is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EntryFreeze)) == 0

    # After the close: frozen (version 1), the beacon fetched; running again changes nothing.
    out = runner.invoke(args=["admissions", "freeze-entries"])
    assert out.exit_code == 0 and "commitments 0" in out.output, out.output
    assert runner.invoke(args=["admissions", "freeze-entries"]).output.strip() == (
        "commitments 0, entry versions 0, beacon values 0"
    )
    db.session.expire_all()
    c = freeze.commitment_of(level, district.id)
    v1 = freeze.latest_freeze(level, district.id)
    assert v1.version == 1 and v1.entries == 5 and v1.seats == area.home.capacity + 2 + 3 + area.full.capacity
    assert c.beacon_randomness == randomness(c.beacon_round)
    page = _page(public, record_url)
    for shown in (
        c.secret_sha256,
        v1.root,
        c.beacon_randomness,
        f"{beacon_server.url}/public/{c.beacon_round}",
    ):
        assert shown in page
    assert c.secret not in page
    assert "That is before registration opened." in _page(en, record_url)

    # The family's receipt shows its entry code; its line is in the published list, as submitted.
    receipt = _page(en, f"/children/applications/{rw.anh_app.id}/receipt")
    code = freeze.entry_code_of(rw.anh_app.id)
    assert code in receipt
    listed = public.get(
        f"/tuyen-sinh/levels/{level.id}/districts/{district.id}/entries.json?version=1"
    ).get_json()
    line = next(e for e in listed["entries"] if e["code"] == code)
    assert line["choices"] == [area.home.code, area.other.code] and line["catchment"] == area.other.code
    assert (
        freeze_fingerprint(listed["schools"], listed["entries"])["root"]
        == listed["fingerprint"]["root"]
        == v1.root
    )
    assert "Nguyễn" not in json.dumps(listed, ensure_ascii=False)

    # Round 1: the lottery seed comes from the secret, the fingerprint and the beacon.
    rnd = run_round(rounds.create_official_round(level, district.id, rw.officer), run_jobs)
    assert rnd.status == "done"
    first = freeze.latest_attempt(rnd)
    assert first.lottery_seed == derive_seed(c.secret, v1.root, c.beacon_round, c.beacon_randomness)
    drawn = draw_lottery(first.lottery_seed, [e["code"] for e in listed["entries"]])
    lotteries = {s["id"]: s["lottery"] for s in rnd.input_snapshot["students"]}
    assert lotteries[student_key(rw.anh_app.id)] == drawn[code]

    # Steer 1: having seen the result, the office cuts a school's seats and runs again.
    area.other.capacity = 1
    jobs.commit()
    rnd = run_round(rnd, run_jobs)
    # Steer 2: runs again on the same entries: refused without a reason, public with one.
    with pytest.raises(rules.RoundError) as err:
        rounds.queue_round(rnd, rw.officer)
    assert err.value.code == "reason_required"
    jobs.rollback()
    rnd = run_round(db.session.get(AllocationRound, rnd.id), run_jobs, reason="Kiểm tra lại kết quả")
    # A what-if run stays private: no attempt, not on the public page.
    what_if = rounds.create_what_if(rnd, {area.home.id: 5}, rw.officer)
    jobs.commit()
    run_jobs()
    assert public.get(f"/admissions/rounds/{what_if.id}").status_code == 404
    db.session.expire_all()
    assert "private" in db.session.get(AllocationRound, what_if.id).input_snapshot["meta"]
    meta = db.session.get(AllocationRound, rnd.id).input_snapshot["meta"]
    assert (meta["entry_version"], meta["attempt"], "private" in meta) == (2, 3, False)
    # Steer 3: an entry is edited after the close: publishing refuses, the change becomes a version.
    anh_choice = db.session.scalar(
        sa.select(ApplicationChoice).where(
            ApplicationChoice.application_id == rw.anh_app.id, ApplicationChoice.rank == 1
        )
    )
    anh_choice.school_id = area.group_school.id
    jobs.commit()
    rnd = db.session.get(AllocationRound, rnd.id)
    with pytest.raises(rules.RoundError) as err:
        rounds.publish_round(rnd, rw.officer, utcnow() + timedelta(days=5))
    assert err.value.code == "entries_changed"
    jobs.rollback()
    assert "entry versions 1" in runner.invoke(args=["admissions", "freeze-entries"]).output
    rnd = run_round(db.session.get(AllocationRound, rnd.id), run_jobs)
    publish(rnd, rw.officer, run_jobs)

    db.session.expire_all()
    versions = freeze.versions(level, district.id)
    attempts = freeze.attempts_of(rnd)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[1].changes == [{"kind": "capacity", "school": area.other.code, "from": 3, "to": 1}]
    assert versions[2].changes == [{"kind": "entries_changed", "n": 1}]
    assert [(a.number, a.freeze.version, a.reason) for a in attempts] == [
        (1, 1, ""),
        (2, 2, ""),
        (3, 2, "Kiểm tra lại kết quả"),
        (4, 3, ""),
    ]
    assert all(a.status == "done" for a in attempts)
    # Everything on the public page, in English and in Vietnamese.
    for client in (public, en):
        page = _page(client, f"/admissions/rounds/{rnd.id}")
        assert c.secret in page  # revealed with the results
        for a in attempts:
            assert a.lottery_seed in page and a.freeze.root[:16] in page
        assert "Kiểm tra lại kết quả" in page
        assert page.count("re-run") + page.count("chạy lại") >= 3
    page = _page(en, record_url)
    assert f"Seats of {area.other.code}: 3 → 1" in page and "Entries changed: 1" in page
    index = _page(en, "/admissions/rounds/")
    assert versions[2].root[:16] in index and c.secret_sha256[:16] in index
    # The published input's lottery is the draw over the frozen codes with the last attempt's seed.
    last = attempts[-1]
    assert last.lottery_seed == derive_seed(c.secret, versions[2].root, c.beacon_round, c.beacon_randomness)
    v3 = public.get(
        f"/tuyen-sinh/levels/{level.id}/districts/{district.id}/entries.json?version=3"
    ).get_json()
    drawn = draw_lottery(last.lottery_seed, [e["code"] for e in v3["entries"]])
    inp = public.get(f"/admissions/rounds/{rnd.id}/input.json").get_json()
    by_key = {s["id"]: s["lottery"] for s in inp["students"]}
    for aid in v3_ids(level, district.id):
        assert by_key[student_key(aid)] == drawn[freeze.entry_code_of(aid)]


def v3_ids(level, district_id):
    return freeze.latest_freeze(level, district_id).application_ids


def test_the_verifier_accepts_the_app_transcript_and_rejects_tampered_ones(
    app,
    db,
    rw,
    make_client,
    run_jobs,
    tmp_path,
):
    rnd = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    public = make_client()
    assert public.get(f"/admissions/rounds/{rnd.id}/transcript.json").status_code == 404  # not published yet
    publish(rnd, rw.officer, run_jobs)
    page = _page(public, f"/admissions/rounds/{rnd.id}")
    assert (
        f"/admissions/rounds/{rnd.id}/transcript.json" in page
        and "/admissions/rounds/verify_round.py" in page
    )
    t = public.get(f"/admissions/rounds/{rnd.id}/transcript.json").get_json()
    verifier = public.get("/admissions/rounds/verify_round.py")
    assert verifier.status_code == 200
    script = tmp_path / "verify_round.py"
    script.write_bytes(verifier.get_data())
    code = freeze.entry_code_of(rw.anh_app.id)
    assert rw.anh.full_name not in json.dumps(t, ensure_ascii=False)

    def check(doc, *extra):
        path = tmp_path / "t.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        # -I: isolated, no project on the path: the verifier stands alone.
        return subprocess.run(
            [sys.executable, "-I", str(script), str(path), *extra], capture_output=True, text=True, timeout=60
        )

    ok = check(t, "--entry", code)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "KHỚP / MATCHES" in ok.stdout and f"your entry is included: {code}" in ok.stdout
    # A moved child.
    moved = copy.deepcopy(t)
    placed = next(k for k, v in moved["result"].items() if v is not None)
    unplaced_or_other = next(
        s["id"] for s in moved["entries"]["schools"] if s["id"] != moved["result"][placed]
    )
    moved["result"][placed] = unplaced_or_other
    bad = check(moved)
    assert bad.returncode == 1 and f"result of {placed}" in bad.stdout
    # A changed capacity (fingerprint no longer matches).
    cap = copy.deepcopy(t)
    cap["entries"]["schools"][0]["capacity"] += 1
    bad = check(cap)
    assert bad.returncode == 1 and "fingerprint" in bad.stdout
    # A swapped beacon value.
    swapped = copy.deepcopy(t)
    swapped["randomness"]["beacon_randomness"] = "ee" * 32
    bad = check(swapped)
    assert bad.returncode == 1 and "lottery seed" in bad.stdout
    # A beacon signature that does not give the beacon value.
    signed = copy.deepcopy(t)
    signed["randomness"]["beacon_signature"] = "aa" * 96
    bad = check(signed)
    assert bad.returncode == 1 and "not the SHA-256 of the beacon's signature" in bad.stdout
    # A changed lottery number, an unknown entry code.
    lot = copy.deepcopy(t)
    a, b = list(lot["lottery"])[:2]
    lot["lottery"][a], lot["lottery"][b] = lot["lottery"][b], lot["lottery"][a]
    assert check(lot).returncode == 1
    assert check(t, "--entry", "ZZZZZ-ZZZZZ").returncode == 1


def test_the_verifier_checks_a_later_round_from_where_each_child_stood(
    app,
    db,
    rw,
    make_client,
    run_jobs,
    tmp_path,
):
    """Round 2 after a decline: the transcript keeps round 1's draw, says where each child stood
    (a round's seat, the office's seat, none) and why the decliner is left out; the verifier
    re-runs it and rejects a forged standing, a dropped entry and a moved child."""
    first = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    publish(first, rw.officer, run_jobs)
    assert placement.offer_nearest(rw.level, rw.district.id, rw.officer) == 1  # as the publish page does
    jobs.commit()
    db.session.expire_all()
    apps = [db.session.get(Application, a.id) for a in [*rw.apps, rw.anh_app, rw.binh_app]]
    offered = [a for a in apps if a.status == ApplicationStatus.OFFERED and a.assigned_by_id is None]
    leaving, staying = offered[0], offered[1]
    held_seat = staying.allocated_school.code
    office_seats = {
        freeze.entry_code_of(a.id): a.allocated_school.code for a in apps if a.assigned_by_id is not None
    }
    assert office_seats  # the unplaced catchment child was offered the nearest school by the office
    offers.respond_to_offer(leaving, rw.parent, False)
    offers.respond_to_offer(staying, rw.parent, True)
    jobs.commit()
    second = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    assert second.status == "done", second.error
    publish(second, rw.officer, run_jobs)
    public = make_client()
    assert f"/admissions/rounds/{second.id}/transcript.json" in _page(
        public, f"/admissions/rounds/{second.id}"
    )
    t = public.get(f"/admissions/rounds/{second.id}/transcript.json").get_json()
    leaving_code, staying_code = freeze.entry_code_of(leaving.id), freeze.entry_code_of(staying.id)
    assert t["round"] == 2 and t["left_out"] == {leaving_code: "declined"}
    assert t["standing"][staying_code] == {"held": held_seat}
    assert all(t["standing"][c] == {"office": s} for c, s in office_seats.items())
    script = tmp_path / "verify_round.py"
    script.write_bytes(public.get("/admissions/rounds/verify_round.py").get_data())

    def check(doc, *extra):
        path = tmp_path / "t2.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-I", str(script), str(path), *extra], capture_output=True, text=True, timeout=60
        )

    ok = check(t, "--entry", leaving_code)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "KHỚP / MATCHES" in ok.stdout and "not in this round: declined" in ok.stdout
    # The decliner silently dropped from the list of the left out.
    dropped = copy.deepcopy(t)
    dropped["left_out"] = {}
    bad = check(dropped)
    assert bad.returncode == 1 and f"entry {leaving_code}: neither in the round" in bad.stdout
    # A forged standing: the confirmed child shown as holding nothing (her seat freed for another);
    # round 1's transcript shows what she held.
    first_t = tmp_path / "t1.json"
    first_t.write_text(
        json.dumps(public.get(f"/admissions/rounds/{first.id}/transcript.json").get_json()), encoding="utf-8"
    )
    ok = check(t, "--previous", str(first_t))
    assert ok.returncode == 0 and "standing is what round 1 gave her: ok" in ok.stdout, ok.stdout
    forged = copy.deepcopy(t)
    forged["standing"][staying_code] = {}
    bad = check(forged, "--previous", str(first_t))
    assert bad.returncode == 1 and f"standing of {staying_code}: round 1 gave {held_seat}" in bad.stdout
    # A moved child.
    moved = copy.deepcopy(t)
    other = next(s["id"] for s in moved["entries"]["schools"] if s["id"] != moved["result"][staying_code])
    moved["result"][staying_code] = other
    bad = check(moved)
    assert bad.returncode == 1 and f"result of {staying_code}" in bad.stdout
    # Round 1's lottery re-drawn over other codes.
    redrawn = copy.deepcopy(t)
    redrawn["lottery_draw"]["codes"] = redrawn["lottery_draw"]["codes"][1:]
    assert check(redrawn).returncode == 1

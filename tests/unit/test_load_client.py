"""The load generator's form parsing (scripts/load/client.py): what a browser would post."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _client():
    spec = importlib.util.spec_from_file_location("load_client", ROOT / "scripts" / "load" / "client.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PAGE = """<!doctype html><html><head><title>x</title></head><body>
<header><form method="post" action="/auth/logout"><input type="hidden" name="csrf_token" value="t1">
<button type="submit">Out</button></form></header>
<input name="stray" value="outside any form">
<main><FORM action="/apply" method="POST">
  <input type="hidden" name="csrf_token" value="t2">
  <select name="choice_1"><option value="">-</option><option value="7" selected>B</option></select>
  <input type="checkbox" name="agree" value="yes">
  <div class="field"><label for="x">Trường <b>gần nhà</b></label><p class="hint">&gt; 2 km</p></div>
  <input type="hidden" name="quoted" value='a > b' data-x="<input name=fake>">
  <textarea name="note">a &amp; b <input name="inside"></textarea>
  <input type="submit" name="go" value="Send">
</form></main></body></html>"""


def test_forms_are_read_as_a_browser_posts_them():
    client = _client()
    forms = client.forms_of(PAGE)
    assert [f.action for f in forms] == ["/auth/logout", "/apply"]
    apply = forms[1]
    assert apply.method == "post"
    assert "stray" not in apply.names
    assert "fake" not in apply.names and "inside" not in apply.names
    assert apply.payload({"agree": True}) == (
        "csrf_token=t2&choice_1=7&quoted=a+%3E+b&note=a+%26+b+%3Cinput+name%3D%22inside%22%3E&agree=yes"
    )
    assert client.form_with(PAGE, "choice_1", "apply").action == "/apply"


def _slow_journeys(client, seconds: float) -> list[float]:
    started: list[float] = []

    def journey(base, item, address, phase, tally):
        started.append(time.perf_counter())
        tally.started += 1
        time.sleep(seconds)
        tally.completed += 1

    client.journey = journey
    return started


def test_paced_arrivals_do_not_wait_for_the_families_before_them():
    client = _client()
    started = _slow_journeys(client, 0.3)
    t0 = time.perf_counter()
    tally = client.pace("journey", "http://127.0.0.1:1", list(range(20)), "paced", 100.0, time.time() + 30, 0)
    elapsed = time.perf_counter() - t0
    assert (tally.started, tally.completed, len(tally.late)) == (20, 20, 20)
    # one after another they would take 6 s; arriving at 100 a second they overlap
    assert elapsed < 2.0
    assert max(started) - min(started) < 1.5
    assert max(tally.late) < 0.2


def test_paced_arrivals_beyond_the_thread_cap_wait_and_are_counted_late():
    client = _client()
    _slow_journeys(client, 0.2)
    tally = client.pace(
        "journey", "http://127.0.0.1:1", list(range(6)), "paced", 200.0, time.time() + 30, 0, threads=2
    )
    assert tally.completed == 6
    assert sum(1 for x in tally.late if x > 0.1) >= 3


def test_paced_arrivals_stop_at_the_deadline():
    client = _client()
    _slow_journeys(client, 0.0)
    tally = client.pace(
        "journey", "http://127.0.0.1:1", list(range(1000)), "paced", 50.0, time.time() + 0.5, 0
    )
    assert 5 <= tally.started < 100


def test_server_errors_count_the_5xx_answers_of_every_step_and_nothing_else():
    client = _client()
    tally = client.Tally(errors={"submit 500": 2, "register 502": 1, "verify 429": 4, "home TimeoutError": 1})
    other = client.Tally(errors={"submit 500": 1, "receipt no-location": 3, "child 404": 1})
    tally.merge(other)
    assert tally.server_errors() == 4
    assert client.Tally().server_errors() == 0

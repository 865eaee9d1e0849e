"""The office's pages and exports at season scale, timed through the app (test client, logged in).

Used by admissions_season.py after the rounds are published: each page is fetched `repeat` times
(the first fetch also warms the templates); the median is compared with its target
(PAGE_TARGET_MS for pages, EXPORT_TARGET_MS for files). A page that does not answer 200 counts
as missed.
"""

from __future__ import annotations

import re
import statistics
import time

PAGE_PASSWORD = "bench password for the office"  # noqa: S105 - scratch database
PAGE_TARGET_MS = 200.0
EXPORT_TARGET_MS = 2000.0
TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def _client(app, login: str):
    client = app.test_client()
    page = _get(app, client, "/auth/login").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    with app.app_context():
        resp = client.post(
            "/auth/login", data={"login": login, "password": PAGE_PASSWORD, "csrf_token": token}
        )
    assert resp.status_code == 302, f"login of {login}: {resp.status_code}"
    return client


def _get(app, client, path: str):
    """One request in its own app context (own database session), as in production."""
    with app.app_context():
        return client.get(path)


def pages(data: dict, rounds: list[int]) -> list[tuple[str, str, str, bool]]:
    """(label, who, path, is_export) of every office page and export worth timing at scale."""
    lid, did, sid = data["level_id"], data["district_id"], data["school_id"]
    last = rounds[-1]
    d = f"/admissions/office/districts/{did}/levels/{lid}"
    return [
        ("city dashboard", "admin", f"/admissions/dashboard/levels/{lid}", False),
        ("district dashboard", "officer", f"/admissions/dashboard/levels/{lid}/districts/{did}", False),
        ("school dashboard", "officer", f"/admissions/dashboard/levels/{lid}/schools/{sid}", False),
        ("level page", "officer", d, False),
        ("eligible list", "officer", f"{d}/eligible", False),
        ("rounds page", "officer", f"{d}/rounds", False),
        ("placement page", "officer", f"{d}/placement", False),
        *[
            (f"round {i + 1} page", "officer", f"/admissions/office/rounds/{r}", False)
            for i, r in enumerate(rounds)
        ],
        ("round school list", "officer", f"/admissions/office/rounds/{last}/schools/{sid}", False),
        ("round unplaced list", "officer", f"/admissions/office/rounds/{last}/unplaced", False),
        ("public rounds page", "officer", f"/admissions/rounds/{last}", False),
        (
            "district summary.xlsx",
            "officer",
            f"/admissions/dashboard/levels/{lid}/districts/{did}/summary.xlsx",
            True,
        ),
        ("city summary.xlsx", "admin", f"/admissions/dashboard/levels/{lid}/summary.xlsx", True),
        ("admitted.xlsx", "officer", f"/admissions/dashboard/levels/{lid}/schools/{sid}/admitted.xlsx", True),
        ("codes.xlsx", "officer", f"/admissions/office/levels/{lid}/schools/{sid}/codes.xlsx", True),
        ("result.json", "officer", f"/admissions/office/rounds/{last}/result.json", True),
        ("input.json", "officer", f"/admissions/office/rounds/{last}/input.json", True),
        ("public result.json", "officer", f"/admissions/rounds/{last}/result.json", True),
        *_second_district(data),
    ]


def _second_district(data: dict) -> list[tuple[str, str, str, bool]]:
    """With the city loaded (--city): another district's pages, as the city's administrator
    opens them (its children registered, not allocated)."""
    did, lid = data.get("second_district_id"), data["level_id"]
    if not did:
        return []
    d = f"/admissions/office/districts/{did}/levels/{lid}"
    return [
        ("district 2 dashboard", "admin", f"/admissions/dashboard/levels/{lid}/districts/{did}", False),
        ("district 2 level page", "admin", d, False),
        ("district 2 eligible list", "admin", f"{d}/eligible", False),
    ]


def time_pages(app, data: dict, rounds: list[int], repeat: int = 3) -> bool:
    """Print each page's median time (ms) against its target; True when every target is met."""
    clients = {
        "admin": _client(app, "bench.admin@example.edu.vn"),
        "officer": _client(app, "bench.officer@example.edu.vn"),
    }
    ok = True
    print(
        f"pages ({repeat} fetches each, median; pages ≤ {PAGE_TARGET_MS:.0f} ms, files ≤ {EXPORT_TARGET_MS:.0f} ms):"
    )
    for label, who, path, export in pages(data, rounds):
        times, status, size = [], None, 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            resp = _get(app, clients[who], path)
            body = resp.get_data()  # a streamed file is produced here
            times.append((time.perf_counter() - t0) * 1000)
            status, size = resp.status_code, len(body)
        ms = statistics.median(times)
        target = EXPORT_TARGET_MS if export else PAGE_TARGET_MS
        met = status == 200 and ms <= target
        ok &= met
        print(
            f"  {label:<22} {ms:8.0f} ms  (min {min(times):.0f})  {size / 1024:9.0f} KiB  "
            f"{status}  {'MET' if met else 'MISSED'}"
        )
    return ok

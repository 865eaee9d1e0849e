"""Every form of every page, as every demo role and anonymous, with hostile values in each field.

"Bad input": malformed, oversized or duplicated posts, script and SQL fragments in every
field → a clear message, never a 500, nothing stored half-way. Forms are found by crawling the
demo district as each role (so new pages and forms join this test by themselves):

- every field of every POST form gets each hostile value in turn (the other fields keep what the
  page offered), and once every field is sent twice;
- a refused post (4xx) changes no row anywhere: the request boundary rolls back;
- no answer and no page reached from it is a 500 or shows the script unescaped;
- GET forms (filters) get the same values in their query strings.

Posts that would end the session or do something for every field at once are left to the
area tests: logout, and forms with no field besides the CSRF token (a bare action button).
"""

from __future__ import annotations

import re
import time
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from app.demo import DEMO_LOGINS
from app.extensions import db
from app.models import AuditLog

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    SCRIPT + "' OR '1'='1'; DROP TABLE \"user\"; --",  # markup and SQL
    '=HYPERLINK("http://evil.example")\x00\x01\x1f',  # a spreadsheet formula, NUL and controls
    "99999999999999999999",  # beyond any integer column
    "ｘ" * 3000,  # oversized, multi-byte
]
PAGES_PER_ROLE = 120
SKIP_ACTIONS = ("/auth/logout",)


@pytest.fixture
def app_config(app_config):
    # Throttles would answer 429 before the forms are exercised; they have their own tests.
    # (Not RATELIMIT_ENABLED=False: the limiter is module-level and would stay off for later apps.)
    many = "100000/minute"
    return dict(app_config, LOGIN_LIMIT_PER_IP=many, LOGIN_LIMIT_PER_ACCOUNT=many, ADD_CHILD_LIMIT=many)


class _Page(HTMLParser):
    """Links and forms of one HTML page (fields with the values the page offers)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action") or "",
                "fields": [],
                "buttons": [],
            }
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "image", "button", "reset"):
                self._form["buttons"].append((a["name"], a.get("value") or ""))
            elif kind in ("checkbox", "radio"):
                self._form["fields"].append((a["name"], a.get("value") or "on", "checked" in a))
            else:
                self._form["fields"].append((a["name"], a.get("value") or "", True))
        elif tag == "button" and a.get("name"):
            self._form["buttons"].append((a["name"], a.get("value") or ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"].append((a["name"], None, True))
        elif tag == "option" and self._select:
            name, value, _ = self._form["fields"][-1]
            if value is None or "selected" in a:
                self._form["fields"][-1] = (name, a.get("value", ""), True)
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"].append((a["name"], "", True))

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            name, value, on = self._form["fields"][-1]
            self._form["fields"][-1] = (name, value + data, on)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _row_counts() -> dict[str, int]:
    tables = [t.name for t in db.metadata.sorted_tables]
    union = " UNION ALL ".join(f"SELECT '{t}' AS t, COUNT(*) AS n FROM \"{t}\"" for t in tables)
    db.session.rollback()
    counts = dict(db.session.execute(sa.text(union)).all())
    db.session.rollback()
    return counts


def _same_site(base: str, href: str) -> str | None:
    url = urljoin(base, href)
    parts = urlsplit(url)
    if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _form_key(path: str, form: dict) -> tuple:
    # One try per form shape: /classes/1/grades/2 and /classes/1/grades/3 are the same form.
    return (
        form["method"],
        _shape(path),
        tuple(sorted({re.sub(r"\d+", "N", n) for n, _, _ in form["fields"]})),
    )


def _shape(path: str) -> str:
    return re.sub(r"/\d+", "/N", urlsplit(path).path)


def _crawl(client, start: list[str], limit: int, problems: list[str]) -> list[tuple[str, dict]]:
    """Breadth-first over same-site HTML pages, at most two pages of each shape (/classes/N/...);
    return (page path, form) pairs."""
    seen, queue, found, shapes, visited = set(start), deque(start), [], {}, 0
    while queue and visited < limit:
        path = queue.popleft()
        if shapes.get(_shape(path), 0) >= 2:
            continue
        shapes[_shape(path)] = shapes.get(_shape(path), 0) + 1
        visited += 1
        resp = client.get(path)
        if resp.status_code >= 500:
            problems.append(f"GET {path} -> {resp.status_code}")
        location = (
            _same_site(path, resp.headers.get("Location", ""))
            if resp.status_code in (301, 302, 303)
            else None
        )
        if location and location not in seen and not location.startswith("/auth/"):
            seen.add(location)
            queue.append(location)
        if resp.status_code != 200 or not resp.mimetype.startswith("text/html"):
            continue
        page = _parse(resp.get_data(as_text=True))
        found.extend((path, form) for form in page.forms)
        for href in page.links:
            target = _same_site(path, href)
            if target and target not in seen and not target.startswith("/static/"):
                seen.add(target)
                queue.append(target)
    return found


def _representatives(names: list[str]) -> list[str]:
    """Each field, except that a shape repeated four times or more (a grid) is tried once."""
    by_shape: dict[str, list[str]] = {}
    for n in dict.fromkeys(names):
        by_shape.setdefault(re.sub(r"\d+", "N", n), []).append(n)
    return [n for group in by_shape.values() for n in (group[:1] if len(group) >= 4 else group)]


def _defaults(form: dict) -> MultiDict:
    data = MultiDict()
    for name, value, on in form["fields"]:
        if on:
            data.add(name, value or "")
    if form["buttons"]:
        data.add(*form["buttons"][0])
    return data


def _check_response(client, resp, where: str, before: dict[str, int], problems: list[str]) -> None:
    if resp.status_code >= 500:
        problems.append(f"{where} -> {resp.status_code}")
        return
    body = resp.get_data(as_text=True) if resp.mimetype.startswith("text/") else ""
    if SCRIPT in body:
        problems.append(f"{where}: the script came back unescaped")
    if resp.status_code >= 400:
        after = _row_counts()
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        if changed:
            problems.append(f"{where} -> {resp.status_code} but rows changed: {changed}")
    elif resp.status_code in (301, 302, 303) and resp.headers.get("Location", "").startswith("/"):
        follow = client.get(resp.headers["Location"])
        if follow.status_code >= 500:
            problems.append(f"{where} -> {resp.headers['Location']} -> {follow.status_code}")
        elif follow.mimetype.startswith("text/") and SCRIPT in follow.get_data(as_text=True):
            problems.append(f"{where}: unescaped after redirect")


def _attack(client, forms: list[tuple[str, dict]], tried: set, relogin, problems: list[str]) -> int:
    posts = 0
    for path, form in forms:
        action = _same_site(path, form["action"] or path)
        key = _form_key(action or path, form)
        if action is None or key in tried or action.startswith(SKIP_ACTIONS):
            continue
        tried.add(key)
        names = [n for n, _, _ in form["fields"] if n != "csrf_token"]
        if not names:
            continue
        if form["method"] == "get":
            for value in HOSTILE:
                query = dict.fromkeys(names, value)
                url = urlsplit(action).path + "?" + urlencode(query)
                resp = client.get(url)
                if resp.status_code >= 500:
                    problems.append(f"GET {url[:120]} -> {resp.status_code}")
            continue
        relogin()
        fresh = client.fresh_form(path, form)
        attempts = [
            (f"[{name}={value[:20]!r}]", name, value, False)
            # Grids repeat one field per pupil (g-1-level-1, g-2-level-1 …): one of each shape.
            for name in _representatives(names)
            for value in HOSTILE
        ]
        # Every field sent twice, the second time hostile (duplicated parameters).
        attempts.append(("[every field twice]", None, HOSTILE[0], True))
        for label, name, value, duplicate in attempts:
            data = _defaults(fresh)
            if duplicate:
                for n in dict.fromkeys(names):
                    data.add(n, value)
            else:
                data.setlist(name, [value])
            before = _row_counts()
            resp = client.post(action, data=data)
            posts += 1
            _check_response(client, resp, f"POST {action} {label}", before, problems)
            if resp.status_code == 400 or resp.headers.get("Location", "").startswith("/auth/login"):
                relogin()  # the post ended the session or changed the form: start afresh
                fresh = client.fresh_form(path, form)
    return posts


class _FormClient:
    """Wraps the test Client: re-reads a form from its page so that the CSRF token is current."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def fresh_form(self, path: str, form: dict) -> dict:
        resp = self.client.get(path)
        if resp.status_code == 200:
            for candidate in _parse(resp.get_data(as_text=True)).forms:
                if candidate["action"] == form["action"] and candidate["method"] == form["method"]:
                    return candidate
        return form


PERSONAL_COLUMNS = {"full_name", "phone", "email", "personal_id", "guardian_name", "guardian_phone"}


def _personal_values() -> set[str]:
    """Every name, phone, email and personal id stored anywhere (columns found by name)."""
    values: set[str] = set()
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name in PERSONAL_COLUMNS and isinstance(column.type, sa.String):
                values.update(v for v in db.session.scalars(sa.select(column)) if v and len(v) >= 6)
    return values


def test_every_form_of_every_page_survives_hostile_values(app, runner, make_client):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    started = time.perf_counter()
    tried: set = set()
    problems: list[str] = []
    total_forms = total_posts = 0
    anonymous = _FormClient(make_client())
    sessions = [("anonymous", anonymous, ["/", "/auth/login", "/auth/register"], lambda: None)]
    for role, login in DEMO_LOGINS["accounts"]:
        client = _FormClient(make_client())

        def relogin(client=client, login=login):
            if client.get("/home").status_code != 200:
                client.login(login, DEMO_LOGINS["password"])

        relogin()
        sessions.append((role, client, ["/home"], relogin))
    for _role, client, start, relogin in sessions:
        forms = _crawl(client, start, PAGES_PER_ROLE, problems)
        relogin()
        before = len(tried)
        total_posts += _attack(client, forms, tried, relogin, problems)
        total_forms += len(tried) - before
    print(f"{total_forms} forms, {total_posts} hostile posts in {time.perf_counter() - started:.1f} s")
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems)
    # The crawl must really reach the forms of every area, or this test proves nothing.
    assert total_forms >= 25, total_forms
    paths = {k[1] for k in tried}
    for expected in ("/auth/register", "/auth/login", "/auth/password", "/admin/users/new", "/lang"):
        assert expected in paths, (expected, sorted(paths))
    assert any(p.startswith("/contactbook/") for p in paths), sorted(paths)
    assert any(p.startswith(("/children", "/admissions/")) for p in paths), sorted(paths)

    # All that crawling and posting was audited with ids and codes only, never personal data.

    db.session.rollback()
    entries = db.session.scalars(sa.select(AuditLog)).all()
    assert len(entries) > 20
    personal = _personal_values()
    assert len(personal) > 500
    logged = "\n".join(f"{e.action} {e.target_type} {e.target_id} {e.details}" for e in entries)
    leaked = sorted(v for v in personal if v in logged)
    assert not leaked, f"personal data in the audit log: {leaked[:10]}"

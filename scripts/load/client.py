"""The load generator: a browser-like HTTP client (cookies, keep-alive, forms posted as a browser
posts them, CSRF tokens included) and the parent's journey, step by step.

Loopback only: `Browser` refuses any host other than 127.0.0.1 / localhost / ::1."""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# The journey: 11 requests, as a phone's browser makes them (redirects followed).
STEPS = (
    "register_page",
    "register",
    "verify_page",
    "verify",
    "home",
    "add_child_page",
    "add_child",
    "child",
    "apply_page",
    "submit",
    "receipt",
)
LOGIN_STEPS = ("login_page", "login")


class StepFailed(Exception):
    def __init__(self, step: str, status: str):
        super().__init__(f"{step}: {status}")
        self.step = step
        self.status = status


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # what the browser posts as is
    selects: dict[str, list[str]] = field(default_factory=dict)  # name → option values
    names: set[str] = field(default_factory=set)
    boxes: dict[str, str] = field(default_factory=dict)  # unticked checkbox → its value

    def payload(self, fill: dict[str, str | bool]) -> str:
        """The urlencoded body: the form's own values (hidden inputs, the CSRF token, preselected
        options), `fill` typed over them, in document order; `True` ticks a checkbox the form has
        (its own value is posted, as a browser does), and is dropped when the form has none."""
        out, seen = [], set()
        for name, value in self.fields:
            if name in fill:
                if name in seen:
                    continue
                seen.add(name)
                value = fill[name]
            out.append((name, value))
        for k, v in fill.items():
            if v is True:
                if k in self.boxes and k not in seen:
                    out.append((k, self.boxes[k]))
            elif k not in self.names:
                out.append((k, v))
        return urlencode(out)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._selected: str | None = None
        self._first: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
            return
        f = self._form
        if f is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            f.names.add(name)
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                if kind == "checkbox":
                    f.boxes[name] = a.get("value", "on")
                return
            f.fields.append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "button" and name and a.get("type", "submit") == "submit":
            f.names.add(name)
        elif tag == "select" and name:
            f.names.add(name)
            f.selects[name] = []
            self._select, self._selected, self._first = name, None, None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            f.selects[self._select].append(value)
            if self._first is None:
                self._first = value
            if "selected" in a:
                self._selected = value
        elif tag == "textarea" and name:
            f.names.add(name)
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._form is None:
            return
        if tag == "select" and self._select is not None:
            value = self._selected if self._selected is not None else self._first
            if value is not None:
                self._form.fields.append((self._select, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._form.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "form":
            self._form = None


_FORM = re.compile(r"<form\b.*?</form\s*>", re.IGNORECASE | re.DOTALL)
# What a form posts comes from these tags alone, and a textarea's text: a tag's attributes may
# hold a quoted ">". The labels, hints and layout between them are not parsed.
_ATTRS = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_CONTROLS = re.compile(
    rf"(<textarea\b{_ATTRS}>)(.*?)</textarea\s*>|</?(?:form|select)\b{_ATTRS}>|<(?:input|option|button)\b{_ATTRS}>",
    re.IGNORECASE | re.DOTALL,
)


def _controls(markup: str) -> str:
    """A form's controls, each textarea's text kept as text (a browser does not read tags in it)."""
    out = []
    for m in _CONTROLS.finditer(markup):
        start = m.group(1)
        out.append(m.group(0) if start is None else f"{start}{m.group(2).replace('<', '&lt;')}</textarea>")
    return "".join(out)


def forms_of(html: str) -> list[Form]:
    """The page's forms. Only the forms' controls are parsed (forms do not nest, and the parser
    ignores everything outside them): the generator's CPU shares the machine with the app, and
    Python's HTML parser spent 1.8 ms on the application form's markup, 1.1 ms on its controls."""
    p = _FormParser()
    for m in _FORM.finditer(html):
        p.feed(_controls(m.group(0)))
    p.close()
    return p.forms


def form_with(html: str, field_name: str, step: str) -> Form:
    for f in forms_of(html):
        if field_name in f.names:
            return f
    raise StepFailed(step, "no-form")


class Browser:
    """One family's phone: one keep-alive connection, its cookies, its address (X-Forwarded-For,
    so that per-address limits see families, not the load generator)."""

    def __init__(self, base: str, address: str, phase: str, timeout: float = 30.0):
        parts = urlsplit(base)
        if parts.hostname not in LOOPBACK:
            raise ValueError(f"the load test runs on loopback only, not {parts.hostname}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.address = address
        self.phase = phase
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(
        self, method: str, path: str, body: str | None = None, step: str = ""
    ) -> tuple[int, dict, str]:
        headers = {
            "Host": f"{self.host}:{self.port}",
            "User-Agent": "Mozilla/5.0 (Linux; Android 14) load-test",
            "Accept": "text/html",
            "Accept-Language": "vi",
            "X-Forwarded-For": self.address,
            "X-Load-Phase": f"{self.phase} {step}".strip(),  # counted per phase and step by the server
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{self.host}:{self.port}"
            headers["Referer"] = f"http://{self.host}:{self.port}{path}"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(
                    method, path, body=body.encode() if body is not None else None, headers=headers
                )
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a keep-alive connection the server closed between requests: open a new one once
                self.close()
                if attempt:
                    raise
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                k, _, v = pair.partition("=")
                if v == "" or "expires=thu, 01 jan 1970" in value.lower():
                    self.cookies.pop(k.strip(), None)
                else:
                    self.cookies[k.strip()] = v
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data.decode("utf-8", "replace")


@dataclass
class Tally:
    """What one generator thread saw."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # "step status" → count
    completed: int = 0
    started: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)  # personal ID → application id
    logins: list[tuple[str, str]] = field(default_factory=list)  # (phone, password) registered
    late: list[float] = field(default_factory=list)  # paced: seconds a journey started after its time

    def merge(self, other: Tally) -> None:
        self.late += other.late
        for k, v in other.latencies.items():
            self.latencies.setdefault(k, []).extend(v)
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.completed += other.completed
        self.started += other.started
        self.acknowledged.update(other.acknowledged)
        self.logins += other.logins

    def server_errors(self) -> int:
        """Answers with a 5xx status, whatever the step."""
        return sum(n for key, n in self.errors.items() if key.rsplit(" ", 1)[-1].startswith("5"))


class _Timer:
    def __init__(self, tally: Tally, browser: Browser):
        self.tally, self.browser = tally, browser

    def __call__(self, step: str, method: str, path: str, body: str | None, expect: int) -> tuple[dict, str]:
        t0 = time.perf_counter()
        try:
            status, headers, text = self.browser.request(method, path, body, step)
        except OSError as err:
            raise StepFailed(step, type(err).__name__) from err
        self.tally.latencies.setdefault(step, []).append(time.perf_counter() - t0)
        if status != expect:
            raise StepFailed(step, str(status))
        return headers, text


def _location(headers: dict, step: str) -> str:
    loc = headers.get("location")
    if not loc:
        raise StepFailed(step, "no-location")
    return urlsplit(urljoin("http://x/", loc)).path


SMS_GATEWAY = ""  # the load test's SMS gateway (sms_sink), set before the generator forks


def sms_code(phone: str, wait: float = 10.0) -> str:
    """The code the phone received, from the load test's SMS gateway."""
    url = SMS_GATEWAY + "/code?to=" + phone
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback sink
                return resp.read().decode()
        except urllib.error.HTTPError as err:
            if err.code != 404 or time.monotonic() > deadline:
                raise StepFailed("verify_page", "no-sms") from None
        time.sleep(0.05)


def journey(base: str, family, address: str, phase: str, tally: Tally) -> None:
    """Register → the code the SMS brought → home → add the child → the child's page → the
    application form → submit → receipt."""
    b = Browser(base, address, phase)
    step = _Timer(tally, b)
    tally.started += 1
    try:
        _, page = step("register_page", "GET", "/auth/register", None, 200)
        form = form_with(page, "phone", "register_page")
        body = form.payload(
            {
                "full_name": "Nguyễn Thị Tải",
                "phone": family.phone,
                "password": family.password,
                "confirm": family.password,
                "privacy_notice": True,  # the family ticks the notice, as it must
            }
        )
        headers, _ = step("register", "POST", form.action or "/auth/register", body, 302)
        _, page = step("verify_page", "GET", _location(headers, "register"), None, 200)
        form = form_with(page, "code", "verify_page")
        body = form.payload({"code": sms_code(family.phone)})
        headers, _ = step("verify", "POST", form.action or "/auth/verify", body, 302)
        step("home", "GET", _location(headers, "verify"), None, 200)
        _, page = step("add_child_page", "GET", "/children/add", None, 200)
        form = form_with(page, "code", "add_child_page")
        body = form.payload(
            {"code": family.code, "personal_id": family.personal_id, "date_of_birth": family.date_of_birth}
        )
        headers, _ = step("add_child", "POST", form.action or "/children/add", body, 302)
        child_path = _location(headers, "add_child")
        _, page = step("child", "GET", child_path, None, 200)
        apply_path = child_path.rstrip("/") + "/application"
        _, page = step("apply_page", "GET", apply_path, None, 200)
        form = form_with(page, "choice_1", "apply_page")
        options = [v for v in form.selects.get("choice_1", []) if v]
        if not options:
            raise StepFailed("apply_page", "no-school")
        body = form.payload({"choice_1": options[len(family.phone) % len(options)]})
        headers, _ = step("submit", "POST", form.action or apply_path, body, 302)
        receipt = _location(headers, "submit")
        app_id = receipt.rstrip("/").split("/")[-2]
        if not app_id.isdigit():
            raise StepFailed("submit", "not-a-receipt")
        tally.acknowledged[family.personal_id] = int(app_id)
        tally.logins.append((family.phone, family.password))
        step("receipt", "GET", receipt, None, 200)
        tally.completed += 1
    except StepFailed as err:
        key = f"{err.step} {err.status}"
        tally.errors[key] = tally.errors.get(key, 0) + 1
    finally:
        b.close()


def login(base: str, credentials: tuple[str, str], address: str, phase: str, tally: Tally) -> None:
    """A returning parent: the login page, then the login (a fresh session)."""
    b = Browser(base, address, phase)
    step = _Timer(tally, b)
    tally.started += 1
    try:
        _, page = step("login_page", "GET", "/auth/login", None, 200)
        form = form_with(page, "login", "login_page")
        body = form.payload({"login": credentials[0], "password": credentials[1]})
        step("login", "POST", form.action or "/auth/login", body, 302)
        tally.completed += 1
    except StepFailed as err:
        key = f"{err.step} {err.status}"
        tally.errors[key] = tally.errors.get(key, 0) + 1
    finally:
        b.close()


def _run(kind: str):
    """What one family does: the journey, or a returning parent's login."""
    return journey if kind == "journey" else login


def _address(n: int) -> str:
    """The n-th family's own address (X-Forwarded-For): per-address limits see families."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def drive(kind: str, base: str, items: list, phase: str, threads: int, deadline: float, offset: int) -> Tally:
    """Closed loop: `threads` families at a time, each starting its journey as soon as the last
    one ended, until the items or the time run out. Runs in one generator process."""
    work = iter(enumerate(items))
    lock = threading.Lock()
    tallies = [Tally() for _ in range(threads)]
    fn = _run(kind)

    def loop(tally: Tally) -> None:
        while time.time() < deadline:
            with lock:
                nxt = next(work, None)
            if nxt is None:
                return
            i, item = nxt
            fn(base, item, _address(offset + i), phase, tally)

    pool = [threading.Thread(target=loop, args=(t,), daemon=True) for t in tallies]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = Tally()
    for t in tallies:
        total.merge(t)
    return total


def pace(
    kind: str,
    base: str,
    items: list,
    phase: str,
    rate: float,
    deadline: float,
    offset: int,
    threads: int = 64,
) -> Tally:
    """Open loop: journeys arrive at random (Poisson) times, `rate` a second on average, each on
    its own thread whatever the ones before it are doing — families do not wait for each other —
    until the items or the time run out. At most `threads` run at once; an arrival beyond that
    waits, and how late each journey started is kept (`Tally.late`). Runs in one generator process."""
    rng = random.Random(offset)
    fn = _run(kind)
    free = threading.BoundedSemaphore(threads)
    tallies: list[Tally] = []
    pool: list[threading.Thread] = []
    late: list[float] = []

    def one(n: int, item, tally: Tally) -> None:
        try:
            fn(base, item, _address(n), phase, tally)
        finally:
            free.release()

    due = time.perf_counter()
    for i, item in enumerate(items):
        due += rng.expovariate(rate)
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        if time.time() >= deadline:
            break
        free.acquire()
        late.append(max(0.0, time.perf_counter() - due))
        tally = Tally()
        tallies.append(tally)
        t = threading.Thread(target=one, args=(offset + i, item, tally), daemon=True)
        t.start()
        pool.append(t)
    for t in pool:
        t.join()
    total = Tally(late=late)
    for t in tallies:
        total.merge(t)
    return total

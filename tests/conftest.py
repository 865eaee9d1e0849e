"""Shared fixtures: a migrated database per test session, a fresh app per test, factories.

Database: DATABASE_URL names the server (PostgreSQL) — the suite creates its own database there
and drops it at the end; without it, a temporary SQLite file. Tables are emptied after each test.
Redis: the app uses REDIS_URL when set (jobs then go to real RQ queues, drained by a real worker
in `run_jobs`); `redis_url` gives Redis-only tests REDIS_URL or a local server, else skips.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_migrate import upgrade
from rq import Queue

from app import create_app, jobs, normalize_database_url
from app.config import TestConfig
from app.extensions import db as _db
from app.extensions import limiter
from app.workers import Worker

pytest.register_assert_rewrite("tests.factories")
from tests.factories import PASSWORD  # noqa: E402

pytest_plugins = [
    "tests.factories",
    "tests.notification_helpers",
    "tests.admissions_import_cases",
    "tests.rounds_cases",
    "tests.admissions_parent_cases",
    "tests.contactbook_factories",
]


def pytest_sessionstart(session):
    """Compile the translation catalogs when the .mo is missing or older than the .po, so a bare
    `pytest` sees the same Vietnamese text as `scripts/test` (which compiles them too)."""
    root = Path(__file__).resolve().parent.parent / "app" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as fh:
                catalog = read_po(fh)
            with mo.open("wb") as fh:
                write_mo(fh, catalog)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_server_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        return url
    return None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def create_pg_database(server_url: str) -> tuple[str, callable]:
    """Create a uniquely named database on the server of `server_url`; return its URL and a dropper."""
    server_url = normalize_database_url(server_url)
    name = f"tsll_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_with_database(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return _with_database(server_url, name), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    server = _pg_server_url()
    if server:
        url, drop = create_pg_database(server)
        yield url
        drop()
    else:
        path = tmp_path_factory.mktemp("db") / "test.db"
        yield f"sqlite:///{path}"


def redis_available_url() -> str | None:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    return None


@pytest.fixture(scope="session")
def redis_url():
    url = redis_available_url()
    if not url:
        pytest.skip("no Redis: set REDIS_URL or run a local Redis on 127.0.0.1:6379")
    return url


@pytest.fixture
def ci_redis_url():
    """REDIS_URL for the fault tests (real worker processes killed, a Redis server stopped): they
    run in CI's PostgreSQL + Redis pass, where REDIS_URL is set, and skip elsewhere."""
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("fault tests run with REDIS_URL set (CI's PostgreSQL + Redis pass)")
    return url


def make_config(database_url: str, tmp_path, **extra) -> dict:
    cfg = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    run_id = uuid.uuid4().hex[:8]
    cfg.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL=os.environ.get("REDIS_URL") or None,
        RATELIMIT_STORAGE_URI=os.environ.get("REDIS_URL") or "memory://",
        RATELIMIT_KEY_PREFIX=f"test-{run_id}",
        JOB_QUEUE=f"test-{run_id}",
        MAIL_URL=None,
        # Cheap hashing in tests; the production parameters have their own test.
        ARGON2_TIME_COST=1,
        ARGON2_MEMORY_COST=1024,
        ARGON2_PARALLELISM=1,
    )
    cfg.update(extra)
    os.environ.setdefault("INSTANCE_PATH", str(tmp_path))
    return cfg


@pytest.fixture(scope="session")
def _migrated(database_url, tmp_path_factory):
    """Bring the session's database to head once, through the real Alembic migrations."""
    app = create_app(make_config(database_url, tmp_path_factory.mktemp("inst")))
    with app.app_context():
        upgrade()
        _db.engine.dispose()
    return database_url


def _empty_tables(db) -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())


@pytest.fixture
def app_config(_migrated, tmp_path):
    return make_config(_migrated, tmp_path)


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        _db.session.remove()
        _empty_tables(_db)
        with contextlib.suppress(Exception):  # storage may be unreachable in failure tests
            limiter.reset()
        redis = app.extensions.get("redis")
        if redis is not None:
            for key in redis.scan_iter(f"*{app.config['JOB_QUEUE']}*"):
                redis.delete(key)
        _db.engine.dispose()
        ctx.pop()


@pytest.fixture
def db(app):
    return _db


class Client:
    """A test client that knows how to find CSRF tokens and log in through the real form.

    Each request runs in its own app context (own `g`, own database session), as in production;
    the test's session commits before and is refreshed after, so both sides see committed data.
    """

    TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
    _METHODS = {"open", "get", "post", "put", "patch", "delete", "head", "options"}

    def __init__(self, flask_client):
        self.c = flask_client

    def __getattr__(self, name):
        attr = getattr(self.c, name)
        if name not in self._METHODS:
            return attr

        def isolated(*args, **kwargs):
            _db.session.commit()
            try:
                with self.c.application.app_context():
                    return attr(*args, **kwargs)
            finally:
                _db.session.rollback()

        return isolated

    def csrf(self, path: str = "/auth/login") -> str:
        resp = self.get(path)
        match = self.TOKEN.search(resp.get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(self, path: str, data: dict | None = None, token_from: str | None = None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf(token_from or path))
        # The privacy notice's box, ticked (registration, activation); a test of its refusal sends "".
        data.setdefault("privacy_notice", self.c.application.config["PRIVACY_NOTICE_VERSION"])
        return self.post(path, data=data, **kw)

    def login(self, login: str, password: str = PASSWORD):
        resp = self.post_form("/auth/login", {"login": login, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        return resp

    def login_as(self, user, password: str = PASSWORD):
        return self.login(user.email or user.phone, password)


@pytest.fixture
def client(app):
    return Client(app.test_client())


@pytest.fixture
def make_client(app):
    return lambda: Client(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def run_jobs(app):
    """Run queued jobs. In-process mode already ran them at commit; with Redis, a real RQ
    worker drains the test queue here (burst mode, same code path as `flask worker`)."""

    def drain():
        conn = jobs.redis_connection()
        if conn is None:
            return
        q = Queue(app.config["JOB_QUEUE"], connection=conn)
        # Its own app context, as a worker process has: the jobs' sessions end with them and
        # leave the test's session (and the objects it holds) alone.
        with app.app_context():
            Worker([q], connection=conn).work(burst=True)

    return drain


class SMTPSink:
    """A real SMTP server (aiosmtpd) on a free local port that keeps what it receives."""

    def __init__(self):
        # lazy: 55 ms to import; only the mail tests start the sink
        from aiosmtpd.controller import Controller

        self.messages: list = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        with socket.socket() as probe:  # aiosmtpd checks readiness by connecting: needs a real port
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"
        return self

    def stop(self):
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_server():
    sink = SMTPSink().start()
    yield sink
    sink.stop()

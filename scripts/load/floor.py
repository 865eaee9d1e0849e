"""The floor: the least any app can do for the journey on this machine. The same 11 requests at
the same URLs, with forms the generator fills the same way, each answered with one indexed query
(PostgreSQL, autocommit) and a few hundred bytes of HTML; registering hashes the password once with
the app's argon2 parameters (app.config.Config) and sends the code by SMS to the load test's
gateway (SMS_GATEWAY_URL), as the app does. A returning family's login is the same two requests
as the app's (the page, then the phone and password: one indexed query and one argon2 verify).
Served by gunicorn like the app:

    gunicorn "floor:create_floor('postgresql+psycopg://…/db')"   (from scripts/load/)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.request

import sqlalchemy as sa
from flask import Flask, abort, redirect, request, session

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from app.config import Config  # noqa: E402 - the repository root is on sys.path from here on
from app.security import Passwords  # noqa: E402

meta = sa.MetaData()
families = sa.Table(
    "floor_family",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("phone", sa.String(15), unique=True, nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
)
applications = sa.Table(
    "floor_application",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("family_id", sa.Integer, nullable=False, index=True),
    sa.Column("school", sa.String(20), nullable=False),
)

PAGE = (
    '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title></head>'
    "<body><h1>{title}</h1>{body}</body></html>"
)


def _form(action: str, inner: str) -> str:
    token = session.setdefault("csrf", secrets.token_urlsafe(16))
    return (
        f'<form method="post" action="{action}"><input type="hidden" name="csrf_token" value="{token}">'
        f'{inner}<button type="submit">OK</button></form>'
    )


def _checked_form() -> None:
    if request.form.get("csrf_token") != session.get("csrf"):
        abort(400)


def _send_sms(phone: str, text: str) -> None:
    """One POST to the SMS gateway, as the app's SMS job makes."""
    url = os.environ.get("SMS_GATEWAY_URL")
    if not url:
        return
    body = json.dumps({"to": phone, "text": text, "reference": secrets.token_hex(8)}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the load test's loopback gateway
        resp.read()


def create_tables(url: str) -> None:
    """Once, before gunicorn starts its workers (each builds the app: they would race)."""
    engine = sa.create_engine(url)
    meta.create_all(engine)
    engine.dispose()


def create_floor(url: str) -> Flask:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2)
    ph = Passwords(Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM)
    app = Flask(__name__)
    app.secret_key = "floor"  # noqa: S105 - a benchmark's own throwaway app

    def one(sql, **params):
        with engine.connect() as conn:
            return conn.execute(sql, params).first()

    def me() -> int:
        uid = session.get("uid")
        if uid is None or one(sa.select(families.c.id).where(families.c.id == uid)) is None:
            abort(403)
        return uid

    @app.get("/auth/register")
    def register_page():
        one(sa.select(families.c.id).where(families.c.id == 1))
        fields = "".join(
            f'<input name="{n}" type="{t}">'
            for n, t in (
                ("full_name", "text"),
                ("phone", "tel"),
                ("password", "password"),
                ("confirm", "password"),
            )
        )
        return PAGE.format(title="Register", body=_form("/auth/register", fields))

    @app.post("/auth/register")
    def register():
        _checked_form()
        row = one(
            sa.insert(families)
            .values(phone=request.form["phone"], password_hash=ph.hash(request.form["password"]))
            .returning(families.c.id)
        )
        session["pending"] = row[0]
        _send_sms(request.form["phone"], f"{secrets.randbelow(10**6):06d} là mã xác nhận")
        return redirect("/auth/verify")

    @app.get("/auth/verify")
    def verify_page():
        one(sa.select(families.c.id).where(families.c.id == session.get("pending", 0)))
        return PAGE.format(title="Code", body=_form("/auth/verify", '<input name="code">'))

    @app.post("/auth/verify")
    def verify():
        _checked_form()
        row = one(sa.select(families.c.id).where(families.c.id == session.get("pending", 0)))
        if row is None:
            abort(403)
        session["uid"] = row[0]
        return redirect("/home")

    @app.get("/auth/login")
    def login_page():
        fields = '<input name="login" type="tel"><input name="password" type="password">'
        return PAGE.format(title="Log in", body=_form("/auth/login", fields))

    @app.post("/auth/login")
    def login():
        _checked_form()
        row = one(
            sa.select(families.c.id, families.c.password_hash).where(
                families.c.phone == request.form["login"]
            )
        )
        if row is None or not ph.verify(row.password_hash, request.form["password"]):
            abort(403)
        session.clear()
        session["uid"] = row.id
        return redirect("/home")

    @app.get("/home")
    def home():
        uid = me()
        return PAGE.format(title="Home", body=f'<a href="/children/add">Add a child</a> {uid}')

    @app.get("/children/add")
    def add_child_page():
        me()
        fields = '<input name="code"><input name="personal_id"><input name="date_of_birth" type="date">'
        return PAGE.format(title="Add a child", body=_form("/children/add", fields))

    @app.post("/children/add")
    def add_child():
        _checked_form()
        return redirect(f"/children/{me()}")

    @app.get("/children/<int:child_id>")
    def child(child_id: int):
        me()
        return PAGE.format(title="Child", body=f'<a href="/children/{child_id}/application">Apply</a>')

    @app.get("/children/<int:child_id>/application")
    def apply_page(child_id: int):
        me()
        options = "".join(f'<option value="{i}">Trường {i}</option>' for i in range(1, 7))
        inner = f'<select name="choice_1"><option value="">—</option>{options}</select>'
        return PAGE.format(title="Apply", body=_form(f"/children/{child_id}/application", inner))

    @app.post("/children/<int:child_id>/application")
    def submit(child_id: int):
        _checked_form()
        row = one(
            sa.insert(applications)
            .values(family_id=session.get("uid", 0), school=request.form.get("choice_1", ""))
            .returning(applications.c.id)
        )
        return redirect(f"/children/applications/{row[0]}/receipt")

    @app.get("/children/applications/<int:application_id>/receipt")
    def receipt(application_id: int):
        row = one(sa.select(applications).where(applications.c.id == application_id))
        if row is None or row.family_id != session.get("uid"):
            abort(404)
        return PAGE.format(title="Receipt", body=f"<p>Application {row.id}: school {row.school}</p>")

    return app

"""How admissions plugs into the app: its pages, command group, API endpoints, notification
kinds, home-page cards, imports, privacy sections and demo loader (called by create_app only).

A module of its own, not the package's __init__: importing the pure admissions.allocation runs
the package's __init__ first, and this module needs Flask and the app.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.api import register_blueprint as register_api
from app.audit import register_wording
from app.imports import register_import
from app.incoming import register_incoming_source
from app.models import Role
from app.notifications import register_kind
from app.privacy import (
    register_children,
    register_eraser,
    register_provider,
    register_reading,
    register_retention,
)
from app.views import register_home_card

from . import api, cli, demo, imports, intake, notify, privacy, views


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    for bp in views.BLUEPRINTS:
        app.register_blueprint(bp)
    app.cli.add_command(cli.admissions_cli)
    register_api(app, api.blp)
    app.extensions.setdefault("demo_loaders", []).append(demo.load_demo)

    register_wording(**notify.audit_wording())
    # The contact book reads the confirmed children through the platform (app.incoming).
    register_incoming_source(app, intake.confirmed_children)
    register_provider(app, "admissions", privacy.sections)  # the parent's download (app.privacy)
    register_reading(**privacy.READING)  # its readable document's words
    register_children(app, "admissions", privacy.children)  # corrections of roster facts
    register_eraser(app, "admissions", privacy.erase)  # account deletion: what is kept
    register_retention(app, "admissions", privacy.retention)  # admission records past their period
    for kind in imports.import_kinds():
        register_import(app, kind)
    register_kind("admission", _l("Admissions: applications and results"), about_child=True, order=20)
    officers = (Role.CITY_ADMIN, Role.DISTRICT_OFFICER)
    managers = (*officers, Role.SCHOOL_STAFF)
    for title, endpoint, roles, order in (
        (_l("My children: admissions"), "admissions_parent.my_children", (Role.PARENT,), 110),
        (
            _l("Admission results: how places are shared out, and checking your child's entry"),
            "admissions_rounds.public_index",
            None,
            120,
        ),
        (
            _l("Admissions in figures: seats, registrations and who was admitted, by school"),
            "admissions_public.index",
            None,
            125,
        ),
        (_l("Admissions seasons and codes"), "admissions_office.index", officers, 200),
        (_l("Excel imports: schools, catchments, roster"), "admissions_imports.imports", officers, 210),
        (
            _l("Admissions dashboard: applications, seats, registrations per hour"),
            "admissions_dashboard.index",
            managers,
            300,
        ),
        (_l("Admission council: documents"), "admissions_council.index", managers, 310),
    ):
        # The public pages (rounds and figures) are linked from the public welcome page too.
        public = endpoint in ("admissions_rounds.public_index", "admissions_public.index")
        register_home_card(app, title, endpoint, roles=roles, order=order, public=public)

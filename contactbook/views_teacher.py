"""Teachers: their classes, grade books, comments, attendance, absence requests."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from app.authz import roles_required
from app.models import Role

from . import services
from .web import bp


@bp.route("/teach")
@roles_required(Role.TEACHER)
def teach():
    return render_template("contactbook/teach.html", lines=services.teacher_classes(current_user))

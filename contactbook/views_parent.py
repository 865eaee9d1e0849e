"""Parents: their children only."""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user

from app.authz import roles_required
from app.models import Role

from . import access
from .web import bp


@bp.route("/children")
@roles_required(Role.PARENT)
def children():
    kids = access.children_of(current_user)
    if len(kids) == 1:
        return redirect(url_for("contactbook.child", pupil_id=kids[0].id))
    return render_template("contactbook/children.html", children=kids)


@bp.route("/children/<int:pupil_id>")
@roles_required(Role.PARENT)
def child(pupil_id: int):
    pupil = access.child_or_404(pupil_id)
    return render_template("contactbook/child.html", pupil=pupil, children=access.children_of(current_user))

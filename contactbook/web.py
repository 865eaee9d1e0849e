"""The contact book's blueprint; the views_* modules add their routes to it."""

from flask import Blueprint

from app.security import mask_phone

bp = Blueprint("contactbook", __name__, url_prefix="/contactbook")


@bp.context_processor
def helpers():
    return {"mask_phone": mask_phone}


def load_views() -> Blueprint:
    from . import views_messages, views_parent, views_public, views_staff, views_teacher  # noqa: F401 - routes

    return bp

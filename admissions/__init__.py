"""Online entry-level admissions: roster, catchments, applications, allocation rounds."""

from __future__ import annotations


def register(app) -> None:
    """Plug the area into the app (called by create_app only; admissions/area.py)."""
    from .area import register as plug  # lazy: admissions.allocation must import without Flask

    plug(app)

"""Electronic contact book: classes, grades, comments, attendance, messages, announcements."""


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    from . import models  # noqa: F401 - models register their tables

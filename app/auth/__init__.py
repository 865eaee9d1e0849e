"""Accounts: login, registration, password change (views.py), account rules (services.py),
one-time codes by SMS and forgot password (code_views.py, verification.py, recovery.py)."""

from . import code_views, email_views, login_code_views, session_views  # noqa: F401 - their pages join the blueprint
from .views import bp

__all__ = ["bp"]

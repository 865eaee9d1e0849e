"""Accounts: login, registration, password change (views.py), account rules (services.py)."""

from .views import bp

__all__ = ["bp"]

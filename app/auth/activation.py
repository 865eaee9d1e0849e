"""One-time activation codes for staff accounts: an administrator issues one (app.auth.lifecycle),
hands it to the person, and the person logs in with it once, in place of a password, before
ACTIVATION_DAYS are over; then every page but choosing a new password stays closed until they
choose one (`User.must_change_password`). The code is stored as an HMAC keyed with SECRET_KEY,
never in clear. Functions flush only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app

from ..audit import audit
from ..models import User, utcnow

ACTIVATION_DAYS = 7
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper
LENGTH = 12


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())[: LENGTH + 4]


def _hash(user_id: int, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"activation:{user_id}:{normalize(code)}".encode(), hashlib.sha256).hexdigest()


def new_code(user: User) -> str:
    """A fresh code for `user` (the earlier one stops working); shown once, as XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    user.activation_code_hash = _hash(user.id, raw)
    user.activation_expires_at = utcnow() + timedelta(days=ACTIVATION_DAYS)
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def use_code(user: User, code: str) -> bool:
    """The code was right and valid: it is used up, and a new password is due."""
    if not user.activation_code_hash or user.activation_expires_at is None:
        return False
    if user.activation_expires_at <= utcnow():
        return False
    if not hmac.compare_digest(user.activation_code_hash, _hash(user.id, code)):
        return False
    user.activation_code_hash = user.activation_expires_at = None
    user.must_change_password = True
    audit("user.activated", user, actor_id=user.id)
    return True

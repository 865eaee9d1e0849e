"""Password hashing and policy, phone numbers, security headers.

Pure helpers (no request state) so that they are unit-tested directly.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PARENT_MIN_PASSWORD = 8
STAFF_MIN_PASSWORD = 12
MAX_PASSWORD = 128

# Passwords Vietnamese users pick often and that generic lists miss.
_LOCAL_COMMON = {
    "matkhau",
    "matkhau123",
    "matkhau1",
    "anhyeuem",
    "emyeuanh",
    "iloveyou",
    "vietnam",
    "vietnam123",
    "hanoi123",
    "saigon123",
    "12345678",
    "123456789",
    "1234567890",
    "11111111",
    "88888888",
    "66666666",
    "99999999",
    "00000000",
    "abc12345",
    "abcd1234",
    "qwerty123",
    "password",
    "password1",
    "admin123",
    "123123123",
    "147258369",
    "987654321",
    "anhyeuem123",
    "yeuem123",
    "conyeu123",
    "motbahai",
    "hocsinh123",
    "giaovien123",
    "truonghoc",
    "tuyensinh",
    "solienlac",
}


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from public breach corpora.
    # lazy: megabytes of word lists, loaded once by the first password check, not by every process
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | _LOCAL_COMMON


def password_problem(password: str, *, staff: bool, context: tuple[str, ...] = ()) -> str | None:
    """Return why a password is refused (an English msgid to translate), or None.

    NIST SP 800-63B / ASVS V2.1: length only, no composition rules, block common passwords
    and ones built from the user's own identifiers.
    """
    minimum = STAFF_MIN_PASSWORD if staff else PARENT_MIN_PASSWORD
    length = len(unicodedata.normalize("NFC", password))
    if length < minimum:
        return "too_short"
    if length > MAX_PASSWORD:
        return "too_long"
    lowered = password.lower()
    if lowered in _common_passwords() or re.fullmatch(r"(.)\1*", password):
        return "common"
    for item in context:
        item = (item or "").lower().replace(" ", "")
        if len(item) >= 4 and (item in lowered.replace(" ", "") or lowered in item):
            return "personal"
    return None


class Passwords:
    """argon2id with OWASP parameters (m=19 MiB, t=2, p=1)."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19 * 1024, parallelism: int = 1):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        if not stored:
            # Spend the same time as a real check so that unknown accounts are not revealed.
            self._hasher.hash(password)
            return False
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


_MOBILE = re.compile(r"^0(3[2-9]|5[2689]|7[06-9]|8[1-9]|9\d)\d{7}$")


def normalize_phone(raw: str | None) -> str | None:
    """Return a Vietnamese mobile number as 10 digits (0xxxxxxxxx), or None if it is not one.

    Accepts spaces, dots and dashes, and the +84 / 84 country prefix.
    """
    if raw is None:
        return None
    digits = re.sub(r"[\s.\-()]", "", str(raw))
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _MOBILE.match(digits) else None


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-3:]


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(secure: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers

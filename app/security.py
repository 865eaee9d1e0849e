"""Password hashing and policy, phone numbers, logins, redirect targets, security headers, proxies.

Pure helpers (no request state) so that they are unit-tested directly.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from werkzeug.middleware.proxy_fix import ProxyFix

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


def normalize_login(raw: str | None) -> str:
    """The one canonical form of what a person typed as their login, used both to find the
    account and to key its failed-login counter (they must never disagree: a login padded with
    NUL once slipped past the counter and still found the account).

    NFKC (full-width digits become ASCII), surrounding spaces dropped; a phone number becomes its
    10 digits, anything else is lower-cased. A control or format character left inside (NUL,
    a zero-width space) makes it "": no account has such a login, and all of them share one
    counter, so padding can neither find an account nor escape its counter."""
    text = unicodedata.normalize("NFKC", str(raw or "")).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        return ""
    return normalize_phone(text) or text.lower()[:254]


def safe_next_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (the caller goes to its default page).

    Browsers drop tabs and line breaks inside URLs and read a backslash as a slash, so
    "/<TAB>/evil.example" is "//evil.example", another site: any such character refuses the target
    (and a line break would otherwise reach the Location header). What remains must have no
    scheme and no host and start with exactly one slash."""
    if not isinstance(target, str) or not target or len(target) > 2000:
        return None
    if any(ch == "\\" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


def same_site_link(url, public_url: str | None) -> str | None:
    """A link stored with a notification, if it leads to this site: a path here, or an absolute
    URL under PUBLIC_URL. Anything else (another host, a "//host" or "/<backslash>host" path, control
    characters) is not shown."""
    if not isinstance(url, str) or not url:
        return None
    if public_url:
        base = public_url.rstrip("/")
        if url == base or url.startswith(base + "/"):
            rest = url[len(base) :] or "/"
            return url if safe_next_path(rest) else None
    return safe_next_path(url)


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


def proxy_networks(spec: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """TRUSTED_PROXY_ADDRESSES: addresses or CIDR networks separated by commas or spaces."""
    items = [item for item in re.split(r"[,\s]+", spec or "") if item]
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as err:
        raise ValueError(f"TRUSTED_PROXY_ADDRESSES: {err}") from None


_FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")
_FORWARDED += ("HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")


class TrustedProxies:
    """WSGI middleware: X-Forwarded-For/-Proto believed only from the configured proxies.

    A request whose socket peer is one of `networks` goes through Werkzeug's ProxyFix (`hops`
    proxies deep); from any other peer the forwarded headers are removed, so nobody outside the
    load balancer can pick their own address for the per-IP limits and the audit log."""

    def __init__(self, app, hops: int, networks):
        self.app = app
        self.networks = tuple(networks)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops)

    def trusted(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address((peer or "").split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in self.networks if net.version == address.version)

    def __call__(self, wsgi_env, start_response):
        if self.trusted(wsgi_env.get("REMOTE_ADDR")):
            return self.fixed(wsgi_env, start_response)
        for key in _FORWARDED:
            wsgi_env.pop(key, None)
        return self.app(wsgi_env, start_response)

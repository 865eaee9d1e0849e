"""Configuration read from the environment (README.md lists the variables).

Every setting has a safe default so that `scripts/run` works on a fresh machine; production
overrides them with environment variables.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_secret_key(instance_path: str) -> str:
    """Return SECRET_KEY from the environment, else a random key kept in the instance folder.

    Called by create_app only when no key is configured: writing the key file once is the
    factory's one allowed touch of the disk, and it is idempotent.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class Config:
    """Production-safe defaults; values from the environment win."""

    SQLALCHEMY_DATABASE_URI: str | None = None  # filled by create_app (needs the instance path)
    # No ping on every checkout (a round trip per request): connections are replaced after 30
    # minutes, and one idle for a while is tested before use (app.extensions.ping_if_idle).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False, "pool_recycle": 1800}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    MAIL_URL = os.environ.get("MAIL_URL") or None
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "Tuyển sinh & Sổ liên lạc <no-reply@localhost>")
    SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL") or None
    SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN") or None
    # Web Push (app/notifications/push.py): the VAPID key pair's private half, base64url, as
    # `flask --app app notifications vapid-keys` prints it; unset = push off.
    VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY") or None
    VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT") or None
    PUSH_TIMEOUT = float(os.environ.get("PUSH_TIMEOUT", "10") or 10)
    # The site's address as families reach it: every absolute link (emails, SMS, notifications)
    # is built from it, never from a request's Host header. Required in production (create_app
    # refuses to start without it when cookies are Secure and neither TESTING nor DEBUG is on).
    PUBLIC_URL = (os.environ.get("PUBLIC_URL") or "").rstrip("/") or None
    REGISTRY_URL = os.environ.get("REGISTRY_URL") or None
    # The public randomness beacon (drand HTTP format) and its chain's clock (docs/verification.md).
    BEACON_URL = os.environ.get("BEACON_URL") or None
    BEACON_GENESIS = int(os.environ.get("BEACON_GENESIS", "1595431050") or 1595431050)
    BEACON_PERIOD = int(os.environ.get("BEACON_PERIOD", "30") or 30)
    # The League of Entropy's mainnet chain (drand's default): its public key and scheme. Set both
    # for another chain; an empty BEACON_PUBLIC_KEY checks only that randomness = SHA-256(signature).
    BEACON_PUBLIC_KEY = os.environ.get(
        "BEACON_PUBLIC_KEY",
        "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31",
    )
    BEACON_SCHEME = os.environ.get("BEACON_SCHEME") or "pedersen-bls-chained"
    SECRET_KEY: str | None = None

    # Sessions: server-side record (UserSession) referenced by a signed cookie.
    SESSION_COOKIE_NAME = "tsll_session"
    SESSION_COOKIE_SECURE = env_bool("COOKIE_SECURE", True)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The cookie is signed and sent again only when its contents change: it expires with the
    # absolute timeout set at login anyway (the idle timeout is kept on the server's session row).
    SESSION_REFRESH_EACH_REQUEST = False
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)

    WTF_CSRF_TIME_LIMIT = 3600 * 8
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024  # big roster uploads; forms are far smaller
    MAX_FORM_MEMORY_SIZE = 512 * 1024
    MAX_FORM_PARTS = 2000

    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    LANGUAGES = ("vi", "en")

    # Login throttling (Flask-Limiter); storage is Redis when REDIS_URL is set. If Redis stops
    # answering, each process keeps counting in memory until it is back: logins go on working.
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    # Reverse proxies in front of the app (load balancer, nginx) whose X-Forwarded-For and
    # X-Forwarded-Proto are trusted. 0 = none: the client address is the socket's, so per-IP
    # limits and the audit log never see a forged header. Behind one load balancer, set 1:
    # otherwise every visitor has the balancer's address and shares one per-IP limit.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
    # The addresses (or networks, CIDR) of those proxies, separated by commas or spaces. A request
    # from any other peer keeps its socket address: its X-Forwarded-* headers are ignored.
    TRUSTED_PROXY_ADDRESSES = os.environ.get("TRUSTED_PROXY_ADDRESSES", "127.0.0.1, ::1")
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "60/minute;600/hour")
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5/minute;20/hour")
    # Beyond that allowance each failure makes the account wait before its next attempt: this
    # long, then twice as long, … up to the maximum (app/auth/throttle.py). Never an hour-long
    # lockout that a stranger could impose on the owner.
    LOGIN_DELAY_SECONDS = int(os.environ.get("LOGIN_DELAY_SECONDS", "15") or 15)
    LOGIN_DELAY_MAX_SECONDS = int(os.environ.get("LOGIN_DELAY_MAX_SECONDS", "300") or 300)
    # Accounts created per address (failed sign-ups count against LOGIN_LIMIT_PER_IP instead).
    REGISTER_LIMIT_PER_IP = os.environ.get("REGISTER_LIMIT_PER_IP", "120/minute;2000/hour")
    # One-time codes by SMS (app.auth.verification): codes sent per number and per address, and
    # wrong codes entered per address (each code also dies after 5 wrong tries or 10 minutes).
    CODE_LIMIT_PER_PHONE = os.environ.get("CODE_LIMIT_PER_PHONE", "3/10 minutes;10/day")
    CODE_LIMIT_PER_IP = os.environ.get("CODE_LIMIT_PER_IP", "60/minute;1000/hour")
    CODE_CHECK_LIMIT_PER_IP = os.environ.get("CODE_CHECK_LIMIT_PER_IP", "30/10 minutes")

    # argon2id, OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19 * 1024
    ARGON2_PARALLELISM = 1

    JOB_QUEUE = os.environ.get("JOB_QUEUE") or "default"  # the RQ queue web processes hand jobs to
    JOB_TIMEOUT = 600
    # The platform outbox (app/jobs.py, docs/notifications.md). A runner's claim on a job lapses
    # this long after its last heartbeat (one every third of it): a killed worker's job is handed
    # over again within a lease plus one relay interval.
    JOB_LEASE_SECONDS = float(os.environ.get("JOB_LEASE_SECONDS", "30"))
    # A job handed to RQ that has not started after this long is looked for in Redis; if it is
    # gone (Redis restarted, or down when the commit handed it over), it is handed over again.
    JOB_HANDOVER_GRACE_SECONDS = float(os.environ.get("JOB_HANDOVER_GRACE_SECONDS", "15"))
    # How often each worker (and `notifications relay --loop` without --interval) runs a relay pass.
    JOB_RELAY_INTERVAL = float(os.environ.get("JOB_RELAY_INTERVAL", "10"))
    # Notification deliveries: the lease of a sending job's claim (renewed every third of it),
    # and how long a due delivery handed to a job may wait before the relay hands it over again.
    NOTIFY_LEASE_SECONDS = float(os.environ.get("NOTIFY_LEASE_SECONDS", "30"))
    NOTIFY_STALE_SECONDS = float(os.environ.get("NOTIFY_STALE_SECONDS", "300"))
    PREFERRED_URL_SCHEME = "https"


class TestConfig(Config):
    TESTING = True
    SESSION_COOKIE_SECURE = False
    PREFERRED_URL_SCHEME = "http"
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105

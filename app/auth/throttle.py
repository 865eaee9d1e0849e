"""Failed logins per account: a growing delay, never a long lockout.

A stranger who types someone's phone number with wrong passwords must not be able to shut the
owner out for an hour. Each account gets its allowance of failures without delay
(`LOGIN_LIMIT_PER_ACCOUNT`, Flask-Limiter notation, e.g. `5/minute;20/hour`); once a window of
it is used up, every further failure makes the next attempt wait: `LOGIN_DELAY_SECONDS`, then
twice that, and so on up to `LOGIN_DELAY_MAX_SECONDS`. During the wait the account answers
"try again in N seconds" to everybody, the right password included; after it, one attempt.
A correct login clears the account's count. Guessing is thus slowed to about one try per
`LOGIN_DELAY_MAX_SECONDS`, while the owner waits at most that long.

Once the delay has reached its maximum (`code_required`), an account with a proven phone (and
any unknown phone number, so that the answer does not tell which numbers have accounts) no longer
takes a password alone: the login page offers a code by SMS to the account's phone, and the code
with the password logs in at once, whatever the wait (app.auth.lockout). The owner gets in; a
stranger without the phone not at all. An account without a proven phone (most staff accounts
log in by email) keeps the delay only.

The counts live where the rate limits do (Redis when `REDIS_URL` is set, shared by every web
process); if that storage stops answering, each process counts in its own memory meanwhile.
The account key is the login after `app.security.normalize_login`, the same form that finds the
account, so padding the login (NUL, spaces, full-width digits) changes neither.

A correct login of an account without failures reads two keys (its count beyond the allowance
before the password is checked, a marker of recent failures after): the counts are cleared only
when there is something to clear.
"""

from __future__ import annotations

import logging
import math
import time
from typing import NamedTuple

from flask import current_app
from limits import parse_many
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from ..extensions import limiter
from ..security import normalize_login

log = logging.getLogger(__name__)

# How long the count of failures beyond the allowance is remembered after it starts.
OVER_LIMIT_MEMORY_SECONDS = 24 * 3600

_fallback = MemoryStorage()


def account_key(login: str | None) -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return f"{prefix}login-account:{normalize_login(login)}"


def _storage() -> Storage:
    return _fallback if limiter._storage_dead else limiter.storage


def _call(fn):
    """Run `fn(storage)` on the shared storage, or on this process's memory if it fails."""
    try:
        return fn(_storage())
    except Exception:  # noqa: BLE001 - Redis down: keep counting in memory, keep logins working
        log.warning("login throttle storage unreachable; counting in memory", exc_info=True)
        return fn(_fallback)


def _wait(storage: Storage, key: str) -> int:
    if not storage.get(key + ":wait"):
        return 0
    return max(1, math.ceil(storage.get_expiry(key + ":wait") - time.time()))


def wait_seconds(key: str) -> int:
    """Seconds before this account may try again (0: it may try now)."""
    return _call(lambda storage: _wait(storage, key))


class LoginState(NamedTuple):
    over: int  # failures beyond the allowance (0: none)
    code_required: bool  # the delay has reached its cap (code_required)
    wait: int  # seconds before the account may try again (wait_seconds)


def login_state(key: str) -> LoginState:
    """`code_required` and `wait_seconds` together: one read of the storage for an account with
    no failures beyond its allowance (the login of nearly everyone), since a wait is only ever
    set with such a count."""
    cap = int(current_app.config["LOGIN_DELAY_MAX_SECONDS"])

    def check(storage: Storage) -> LoginState:
        over = int(storage.get(key + ":over") or 0)
        if over <= 0:
            return LoginState(0, False, 0)
        return LoginState(over, delay_for(over) >= cap, _wait(storage, key))

    return _call(check)


def delay_for(over: int) -> int:
    """The wait after the `over`-th failure beyond the allowance (1, 2, 3, …)."""
    cfg = current_app.config
    base, cap = int(cfg["LOGIN_DELAY_SECONDS"]), int(cfg["LOGIN_DELAY_MAX_SECONDS"])
    return min(cap, base * 2 ** min(max(over - 1, 0), 30))


def failed(key: str) -> int:
    """Count a failed login; return the wait it imposes (0: none yet)."""
    limits = parse_many(current_app.config["LOGIN_LIMIT_PER_ACCOUNT"])

    def count(storage: Storage) -> int:
        # Something to forget at the next correct login (succeeded), kept as long as any count.
        life = max(OVER_LIMIT_MEMORY_SECONDS, *(item.get_expiry() for item in limits))
        storage.clear(key + ":failed")
        storage.incr(key + ":failed", life)
        window = MovingWindowRateLimiter(storage)
        within = [window.hit(item, key) for item in limits]
        exhausted = not all(within) or not all(window.test(item, key) for item in limits)
        if not exhausted:
            return 0
        over = storage.incr(key + ":over", OVER_LIMIT_MEMORY_SECONDS)
        delay = delay_for(over)
        storage.clear(key + ":wait")
        storage.incr(key + ":wait", delay)
        return delay

    return _call(count)


def code_required(key: str) -> bool:
    """The failures beyond the allowance have brought the delay to its cap."""
    cap = int(current_app.config["LOGIN_DELAY_MAX_SECONDS"])

    def check(storage: Storage) -> bool:
        over = int(storage.get(key + ":over") or 0)
        return over > 0 and delay_for(over) >= cap

    return _call(check)


def succeeded(key: str, state: LoginState | None = None) -> None:
    """The owner got in: forget the account's failures. `state`: what `login_state` read in this
    request; with nothing beyond the allowance then, the account's failures within it are
    looked for first (one read) and cleared only if there are any."""
    limits = parse_many(current_app.config["LOGIN_LIMIT_PER_ACCOUNT"])

    def clear(storage: Storage) -> None:
        if state is not None and state.over <= 0 and not storage.get(key + ":failed"):
            return
        storage.clear(key + ":failed")
        window = MovingWindowRateLimiter(storage)
        for item in limits:
            window.clear(item, key)
        storage.clear(key + ":over")
        storage.clear(key + ":wait")

    _call(clear)

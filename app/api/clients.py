"""Machine clients of the API: create, authenticate, revoke.

A token is 32 random bytes (256 bits) shown once; the database keeps only its HMAC-SHA256 under a
key derived from the app's secret. A slow password hash (argon2) protects low-entropy secrets that
people choose; a 256-bit random token cannot be guessed or brute-forced from its hash, so a fast
keyed hash is enough, lets the token be looked up by its hash (an index, no scan) and keeps every
API call cheap. The HMAC key means a leaked database alone does not even allow checking a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.audit import audit
from app.extensions import db
from app.models import ApiClient, District, School, User, utcnow

TOKEN_PREFIX = "tsl_"  # noqa: S105 - a marker that tells a token apart, not a secret
MAX_DAYS = 730


class ClientError(ValueError):
    """A refusal to create a client (bad name, scope or duration), with its message."""


def _key() -> bytes:
    secret = current_app.config.get("API_TOKEN_KEY") or current_app.config["SECRET_KEY"]
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, b"api-client-token", hashlib.sha256).digest()


def token_hash(token: str) -> str:
    return hmac.new(_key(), token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Scope:
    """What a client may see: the whole city (both None), one district or one school."""

    district_id: int | None
    school_id: int | None
    can_write: bool

    def sees_school(self, school: School) -> bool:
        if self.school_id is not None:
            return school.id == self.school_id
        if self.district_id is not None:
            return school.district_id == self.district_id
        return True

    def sees_district(self, district_id: int | None) -> bool:
        """A district's own figures: the city sees all; a district or school client its own."""
        return self.district_id is None or district_id == self.district_id

    def schools_filter(self):
        """A WHERE clause on School for the schools in scope."""
        if self.school_id is not None:
            return School.id == self.school_id
        if self.district_id is not None:
            return School.district_id == self.district_id
        return sa.true()


def scope_of(client: ApiClient) -> Scope:
    return Scope(client.scope_district_id, client.scope_school_id, client.can_write)


def create_client(
    name: str,
    *,
    district_id: int | None = None,
    school_id: int | None = None,
    can_write: bool = False,
    days: int = 365,
    actor: User | None = None,
) -> tuple[ApiClient, str]:
    """A new client and its token (the only time the token exists in clear)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ClientError(_l("Give the client a name of at most 120 characters."))
    if not 1 <= days <= MAX_DAYS:
        raise ClientError(_l("A token lasts between 1 and 730 days."))
    if school_id is not None:
        school = db.session.get(School, school_id)
        if school is None:
            raise ClientError(_l("No such school."))
        district_id = school.district_id
    elif district_id is not None and db.session.get(District, district_id) is None:
        raise ClientError(_l("No such district."))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        token_prefix=token[:10],
        token_hash=token_hash(token),
        scope_district_id=district_id,
        scope_school_id=school_id,
        can_write=can_write,
        expires_at=utcnow() + timedelta(days=days),
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(client)
    db.session.flush()
    audit("api.client_created", client, actor_id=actor.id if actor else None, write=can_write)
    return client, token


def revoke(client: ApiClient, actor: User | None = None) -> None:
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit("api.client_revoked", client, actor_id=actor.id if actor else None)


def authenticate(token: str | None, now: datetime | None = None) -> ApiClient | None:
    """The live client of `token`, or None (unknown, revoked or expired)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    client = db.session.scalar(sa.select(ApiClient).where(ApiClient.token_hash == token_hash(token)))
    now = now or utcnow()
    if client is None or client.revoked_at is not None or client.expires_at <= now:
        return None
    return client


def count_call(client: ApiClient) -> None:
    """One more call (a counter per client, not a row per call: reads are many and carry no
    personal data worth a row; every write leaves its own AuditLog row)."""
    db.session.execute(
        sa.update(ApiClient)
        .where(ApiClient.id == client.id)
        .values(calls=ApiClient.calls + 1, last_used_at=utcnow())
    )


def all_clients() -> list[ApiClient]:
    return list(db.session.scalars(sa.select(ApiClient).order_by(ApiClient.created_at.desc())))

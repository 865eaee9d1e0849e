"""Who calls: the bearer token of a machine client, its scope, its rate limit, its call counter."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app, g, request
from flask_smorest import abort

from app import jobs
from app.extensions import db, limiter
from app.models import ApiClient, School

from .clients import Scope, authenticate, count_call, scope_of, token_hash


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _rate_key() -> str:
    token = _bearer()
    return "api:" + (token_hash(token)[:24] if token else request.remote_addr or "-")


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", "120/minute")


def client_required(write: bool = False) -> Callable[[Callable], Callable]:
    """An API view for machine clients: a live token (else 401), `can_write` for writes (else 403),
    within the client's rate limit (else 429). Marked public for the route × role test: the token,
    not a signed-in role, is what lets a call in."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            client = authenticate(_bearer())
            if client is None:
                abort(401)
            count_call(client)
            jobs.keep_writes()  # the call is counted whatever the answer
            if write and not client.can_write:
                abort(403)
            g.api_client = client
            return view(*args, **kwargs)

        limited = limiter.limit(_rate_limit, key_func=_rate_key)(wrapped)
        limited.access_public = True  # type: ignore[attr-defined]
        limited.access_roles = None  # type: ignore[attr-defined]
        limited.api_write = write  # type: ignore[attr-defined]
        return limited

    return decorator


def current_client() -> ApiClient:
    return g.api_client


def current_scope() -> Scope:
    return scope_of(g.api_client)


MAX_ID = 2**31 - 1  # the tables' INTEGER ids on PostgreSQL


def id_or_404(record_id: int) -> int:
    """An id from the URL that a table can hold; a larger one cannot exist (404, not a database
    error): the URL converter allows 64 bits, the id columns hold 32 on PostgreSQL."""
    if not 0 < record_id <= MAX_ID:
        abort(404)
    return record_id


def school_in_scope(school_id: int) -> School:
    """A school the calling client may see; otherwise 404, as if it did not exist."""
    school = db.session.get(School, id_or_404(school_id))
    if school is None or not current_scope().sees_school(school):
        abort(404)
    return school

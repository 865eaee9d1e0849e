"""Idempotency-Key on writes: the same key with the same body answers the stored response again
(without doing the work twice); the same key with another body is refused (422)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_smorest import abort

from app import jobs
from app.extensions import db
from app.models import ApiIdempotency

HEADER = "Idempotency-Key"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(view: Callable) -> Callable:
    """Wrap a write view (inside client_required): honour an Idempotency-Key header."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not 1 <= len(key) <= 120:
            abort(400, detail=_l("An Idempotency-Key has 1 to 120 characters."))
        client_id = g.api_client.id
        fingerprint = _fingerprint()
        stored = db.session.scalar(
            sa.select(ApiIdempotency).where(ApiIdempotency.client_id == client_id, ApiIdempotency.key == key)
        )
        if stored is not None:
            if stored.request_hash != fingerprint:
                abort(422, detail=_l("This Idempotency-Key was used with another request body."))
            response = current_app.json.response(stored.body)
            response.status_code = stored.status
            response.headers["Idempotent-Replayed"] = "true"
            return response
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code < 500 and response.is_json:
            db.session.add(
                ApiIdempotency(
                    client_id=client_id,
                    key=key,
                    request_hash=fingerprint,
                    status=response.status_code,
                    body=response.get_json(),
                )
            )
            try:
                db.session.flush()
            except sa.exc.IntegrityError:
                # The same key sent twice at once: the other request won; this one's work is undone.
                jobs.rollback()
                abort(409)
            jobs.keep_writes()
        return response

    return wrapped

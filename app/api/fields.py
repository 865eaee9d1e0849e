"""Schema fields the areas' API schemas share."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields


class UtcDateTime(fields.DateTime):
    """A time stored naive in UTC, written with its offset (`…+00:00`): OpenAPI's `date-time`
    (RFC 3339) requires one, and a client must not read the server's UTC as its own local time."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)

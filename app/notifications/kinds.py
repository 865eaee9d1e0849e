"""Kinds of notification: the platform's own, and those the areas register from register(app).

`register_kind(name, _l("label"), urgent=…, about_child=…)` declares a kind; an area calls it
from its register(app) for the kinds it sends. The platform itself only knows `emergency` (any
sender, urgent) and `test` (a sender's test to themself). `order` places the kind on the
preferences page (lower first).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from . import rules

KINDS: dict[str, rules.Kind] = {}
KIND_LABELS: dict[str, object] = {}
_ORDER: dict[str, int] = {}
_STAFF_ONLY: set[str] = set()  # kinds only staff ever receive: not on a family's preferences page


class NotifyError(ValueError):
    """A caller passed an unknown kind or an incomplete context (a programming error)."""


def register_kind(
    name: str,
    label,
    *,
    urgent: bool = False,
    about_child: bool = False,
    email: bool = True,
    digestible: bool = True,
    quiet_hours: bool = True,
    order: int = 100,
    staff_only: bool = False,
) -> rules.Kind:
    """Declare a kind of notification (registering it again replaces it). `staff_only`: only
    staff receive it (a parent's preferences page does not list it)."""
    channels = (rules.IN_APP, rules.EMAIL) if email else (rules.IN_APP,)
    kind = rules.Kind(
        name,
        urgent=urgent,
        about_child=about_child,
        channels=channels,
        digestible=digestible,
        quiet_hours=quiet_hours,
    )
    KINDS[name] = kind
    KIND_LABELS[name] = label
    _ORDER[name] = order
    if staff_only:
        _STAFF_ONLY.add(name)
    else:
        _STAFF_ONLY.discard(name)
    return kind


def kinds_in_order(*, staff: bool = True) -> dict[str, rules.Kind]:
    """The registered kinds as the preferences page lists them (`staff=False`: those families
    receive)."""
    names = sorted((n for n in KINDS if staff or n not in _STAFF_ONLY), key=lambda n: (_ORDER[n], n))
    return {name: KINDS[name] for name in names}


def kind_or_error(name: str) -> rules.Kind:
    spec = KINDS.get(name)
    if spec is None:
        raise NotifyError(f"unknown notification kind {name!r}; call register_kind() first")
    return spec


register_kind(
    "emergency", _l("Emergencies (school closures, safety)"), urgent=True, digestible=False, order=900
)
# A test goes to the sender only, who wants to see it arrive now (not at 06:30, not in a summary).
register_kind(
    "test", _l("Test notifications"), digestible=False, quiet_hours=False, order=910, staff_only=True
)

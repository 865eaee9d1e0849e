"""District, ward and residential-group names in an import, matched to the records or planned."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import District, ResidentialGroup, Ward

from . import cells as v


class Place:
    """A district, ward or residential group: existing (id set) or to be created (id None)."""

    __slots__ = ("id", "name", "parent", "kind", "district_id")

    def __init__(
        self,
        kind: str,
        name: str,
        parent: Place | None,
        id: int | None = None,
        district_id: int | None = None,
    ):
        self.kind, self.name, self.parent, self.id = kind, name, parent, id
        self.district_id = district_id

    @property
    def district(self) -> Place:
        place = self
        while place.parent is not None:
            place = place.parent
        return place


class Places:
    """Resolve district/ward/group names to existing records, or plan new ones.

    Names match case-insensitively and whatever the tone-mark placement ("Hòa" = "Hoà"); an
    administrative prefix may be left out ("Cầu Giấy" = "Quận Cầu Giấy") when that is unambiguous.
    Everything is loaded once; each distinct name is resolved once.
    """

    def __init__(self):
        self._by_key: dict[tuple, Place] = {}
        self._by_short: dict[tuple, list[Place]] = {}
        self._cache: dict[tuple, Place] = {}
        self.pending: list[Place] = []
        self.codes = set()
        self.ward_district: dict[int, int] = {}
        for d_id, d_code, d_name in db.session.execute(sa.select(District.id, District.code, District.name)):
            self.codes.add(d_code.casefold())
            self._index(Place("district", d_name, None, d_id, d_id), None)
        districts = {p.id: p for p in self._all("district")}
        wards = {}
        for w_id, d_id, w_name in db.session.execute(sa.select(Ward.id, Ward.district_id, Ward.name)):
            wards[w_id] = self._index(Place("ward", w_name, districts[d_id], w_id, d_id), districts[d_id])
            self.ward_district[w_id] = d_id
        for g_id, w_id, g_name in db.session.execute(
            sa.select(ResidentialGroup.id, ResidentialGroup.ward_id, ResidentialGroup.name)
        ):
            self._index(Place("group", g_name, wards[w_id], g_id, wards[w_id].district_id), wards[w_id])

    def _all(self, kind):
        return [p for p in self._by_key.values() if p.kind == kind]

    def _index(self, place: Place, parent: Place | None) -> Place:
        key = (place.kind, id(parent), v.place_key(place.name))
        self._by_key.setdefault(key, place)
        short = (place.kind, id(parent), v.place_short_key(place.name, place.kind))
        self._by_short.setdefault(short, []).append(place)
        return place

    def resolve(self, kind: str, name: str, parent: Place | None) -> Place:
        cache_key = (kind, id(parent), name)
        place = self._cache.get(cache_key)
        if place is not None:
            return place
        place = self._by_key.get((kind, id(parent), v.place_key(name)))
        if place is None:
            candidates = self._by_short.get((kind, id(parent), v.place_short_key(name, kind)), [])
            if len(candidates) == 1:
                place = candidates[0]
        if place is None:
            place = Place(kind, name, parent, None, parent.district_id if parent else None)
            self.pending.append(place)
            self._index(place, parent)
        self._cache[cache_key] = place
        return place

    def create_pending(self) -> int:
        """Insert the planned places (parents first) and give every Place its id."""
        created = 0
        for kind in ("district", "ward", "group"):
            for place in self.pending:
                if place.kind != kind or place.id is not None:
                    continue
                if kind == "district":
                    obj = District(name=place.name, code=self._new_code(place.name))
                elif kind == "ward":
                    obj = Ward(name=place.name, district_id=place.parent.id)
                else:
                    obj = ResidentialGroup(name=place.name, ward_id=place.parent.id)
                db.session.add(obj)
                db.session.flush()
                place.id = obj.id
                if kind == "district":
                    place.district_id = obj.id
                else:
                    place.district_id = place.parent.district_id
                    if kind == "ward":
                        self.ward_district[obj.id] = place.parent.id
                created += 1
        return created

    def _new_code(self, name: str) -> str:
        base = v.slugify(name, 20)
        candidate, n = base, 2
        while candidate.casefold() in self.codes:
            suffix = f"-{n}"
            candidate = base[: 20 - len(suffix)].rstrip("-") + suffix
            n += 1
        self.codes.add(candidate.casefold())
        return candidate

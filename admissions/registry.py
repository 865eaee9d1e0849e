"""Population-registry lookup (REGISTRY_URL): identity and residence of a child by personal ID.

Protocol (JSON over HTTP, GET, no body):

    GET {REGISTRY_URL}/citizens/{personal_id}?date_of_birth=YYYY-MM-DD
    200 {"personal_id": "001220012345", "full_name": "...", "date_of_birth": "2020-03-04",
         "gender": "male|female", "district": "Quận Cầu Giấy", "ward": "Dịch Vọng",
         "residential_group": "Tổ 3" | null, "residence_type": "permanent|temporary"}
    404 no such citizen with that date of birth

Anything else (timeout, connection error, 5xx, malformed JSON) raises `RegistryUnavailable`: the
caller tells the family to try again later and does NOT count it as a failed attempt.
Standard library only (urllib), with a timeout on every call.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0


class RegistryUnavailable(Exception):
    """The registry did not give a usable answer."""


@dataclass(frozen=True)
class RegistryRecord:
    personal_id: str
    full_name: str
    date_of_birth: date
    gender: str
    district: str
    ward: str
    residential_group: str | None
    residence_type: str


class RegistryClient:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT):
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("REGISTRY_URL must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def lookup(self, personal_id: str, date_of_birth: date) -> RegistryRecord | None:
        """The registry's record of this child, or None when the ID and birth date do not match."""
        if not (personal_id.isdigit() and len(personal_id) == 12):
            return None
        url = f"{self.base_url}/citizens/{urllib.parse.quote(personal_id)}?" + urllib.parse.urlencode(
            {"date_of_birth": date_of_birth.isoformat()}
        )
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
                body = resp.read(64 * 1024)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            log.warning("registry answered %s", err.code)
            raise RegistryUnavailable(f"status {err.code}") from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            log.warning("registry unreachable: %s", type(err).__name__)
            raise RegistryUnavailable(type(err).__name__) from err
        try:
            data = json.loads(body)
            record = RegistryRecord(
                personal_id=str(data["personal_id"]),
                full_name=str(data["full_name"]).strip(),
                date_of_birth=date.fromisoformat(data["date_of_birth"]),
                gender=str(data["gender"]),
                district=str(data.get("district") or ""),
                ward=str(data["ward"]),
                residential_group=(str(data["residential_group"]) if data.get("residential_group") else None),
                residence_type=str(data["residence_type"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise RegistryUnavailable("malformed answer") from err
        if record.gender not in ("male", "female") or record.residence_type not in ("permanent", "temporary"):
            raise RegistryUnavailable("malformed answer")
        # Only a record of this very child counts as a match.
        if record.personal_id != personal_id or record.date_of_birth != date_of_birth:
            return None
        return record


def client_from_config(config) -> RegistryClient | None:
    url = config.get("REGISTRY_URL")
    if not url:
        return None
    return RegistryClient(url, float(config.get("REGISTRY_TIMEOUT", DEFAULT_TIMEOUT)))

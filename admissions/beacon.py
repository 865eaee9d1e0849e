"""The public randomness beacon, read over HTTP in drand's format (docs/verification.md).

``GET {BEACON_URL}/public/{round}`` answers ``{"round": n, "randomness": "<hex>", "signature":
"<hex>", ...}``. Only the standard library; a short timeout; any failure (down, not emitted yet,
a malformed answer) is ``BeaconUnavailable``, and the round waits.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from flask import current_app

TIMEOUT = 5.0
HEX = re.compile(r"^[0-9a-f]{32,128}$")


class BeaconUnavailable(Exception):
    pass


@dataclass
class BeaconValue:
    round: int
    randomness: str
    signature: str | None
    source: str


def configured_url() -> str | None:
    return (current_app.config.get("BEACON_URL") or "").rstrip("/") or None


def chain() -> tuple[int, int]:
    """(genesis unix time, period in seconds) of the chain BEACON_URL serves."""
    return int(current_app.config.get("BEACON_GENESIS", 1595431050)), int(
        current_app.config.get("BEACON_PERIOD", 30)
    )


def fetch(round_: int, url: str | None = None) -> BeaconValue:
    """Fetch one round's value; raise ``BeaconUnavailable`` on any failure."""
    base = url or configured_url()
    if not base:
        raise BeaconUnavailable("no BEACON_URL")
    source = f"{base}/public/{int(round_)}"
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT) as resp:  # noqa: S310 (configured URL)
            data = json.loads(resp.read(65536))
    except (OSError, ValueError, urllib.error.URLError) as err:
        raise BeaconUnavailable(str(err)) from err
    if not isinstance(data, dict) or data.get("round") != int(round_):
        raise BeaconUnavailable("wrong round")
    randomness = str(data.get("randomness", "")).lower()
    if not HEX.match(randomness):
        raise BeaconUnavailable("malformed randomness")
    signature = data.get("signature")
    return BeaconValue(int(round_), randomness, str(signature) if signature else None, source)
